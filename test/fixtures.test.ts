import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { cassetteNames, isEventStream, loadCassette, parseCassette, recordedDir } from "./support/fixtures.js"

const cassette = (body: string) => `---
version: 2
interactions:
- id: 0
  request:
    content_length: 2
    body: '{}'
    headers:
      Content-Type:
      - application/json
  response:
${body}
    headers:
      Content-Type:
      - text/plain
    code: 201
`

const responseBody = (yamlBody: string) => parseCassette(cassette(yamlBody))[0]?.responseBody

describe("cassette loader", () => {
  it("finds all the recorded cassettes", () => {
    expect(cassetteNames().length).toBe(22)
  })

  it.each(cassetteNames())("reads every interaction of %s", (name) => {
    const text = readFileSync(join(recordedDir, name), "utf8")
    const { interactions } = loadCassette(name)
    expect(interactions.length).toBe(text.match(/^- id: /gm)?.length)
    for (const interaction of interactions) {
      // The recorder stored the byte length of each request body: the unescaping is exact.
      expect(Buffer.byteLength(interaction.requestBody)).toBe(interaction.requestContentLength)
      expect(() => JSON.parse(interaction.requestBody)).not.toThrow()
      expect(interaction.status).toBe(200)
      if (isEventStream(interaction)) {
        expect(interaction.responseBody.startsWith("data: {")).toBe(true)
        expect(interaction.responseBody.endsWith("\n\ndata: [DONE]\n\n")).toBe(true)
        for (const line of interaction.responseBody.split("\n")) {
          if (line !== "") expect(line.startsWith("data: ")).toBe(true)
        }
      } else {
        expect(interaction.responseContentType).toBe("application/json")
        expect(() => JSON.parse(interaction.responseBody)).not.toThrow()
      }
    }
  })

  it("reads '' in single-quoted scalars as one quote", () => {
    expect(responseBody(`    body: '{"a":"it''s ''quoted''"}'`)).toBe(`{"a":"it's 'quoted'"}`)
  })

  it("folds single-quoted scalars written over several lines", () => {
    expect(responseBody(`    body: '{"a": 1,\n      "b": 2,\n\n      "c": 3}'`)).toBe(`{"a": 1, "b": 2,\n"c": 3}`)
  })

  it("keeps trailing newlines of a |+ block and the indentation beyond the block's", () => {
    expect(responseBody(`    body: |+\n      data: 1\n        two\n\n      data: [DONE]\n`)).toBe(
      "data: 1\n  two\n\ndata: [DONE]\n\n"
    )
  })

  it("clips (|) or strips (|-) trailing newlines and honours an indentation digit", () => {
    expect(responseBody(`    body: |\n      a\n\n\n`)).toBe("a\n")
    expect(responseBody(`    body: |-\n      a\n\n`)).toBe("a")
    expect(responseBody(`    body: |4+\n          indented\n        b`)).toBe("  indented\nb\n")
  })

  it("reads the status code and content type of the response", () => {
    const [interaction] = parseCassette(cassette(`    body: 'x'`))
    expect(interaction?.status).toBe(201)
    expect(interaction?.responseContentType).toBe("text/plain")
  })

  it("refuses scalar styles it does not handle, naming the line", () => {
    expect(() => parseCassette(cassette(`    body: "double quoted"`))).toThrow(/line 12: unsupported YAML scalar style/)
    expect(() => parseCassette(cassette(`    body: 'never closed`))).toThrow(/unterminated single-quoted scalar/)
  })
})
