import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import fc from "fast-check"
import { decodeSse, encodeSse, type SseEvent } from "../src/internal/sse.js"

const utf8 = new TextEncoder()

/** Runs the decoder over `parts`, each part delivered as its own network chunk. */
const decodeParts = (parts: ReadonlyArray<string | Uint8Array>): ReadonlyArray<SseEvent> =>
  Effect.runSync(
    Stream.runCollect(
      decodeSse(
        Stream.fromIterable(parts.map((part) => (typeof part === "string" ? utf8.encode(part) : part))).pipe(
          Stream.rechunk(1)
        )
      )
    )
  ).pipe(Chunk.toReadonlyArray)

const message = (data: string, fields: Partial<SseEvent> = {}): SseEvent => ({
  event: undefined,
  id: undefined,
  data,
  ...fields
})

describe("decodeSse", () => {
  it("dispatches one event per blank line, whatever the line endings", () => {
    for (const eol of ["\n", "\r\n", "\r"]) {
      expect(decodeParts([`data: {"a":1}${eol}${eol}data: [DONE]${eol}${eol}`])).toEqual([
        message(`{"a":1}`),
        message("[DONE]")
      ])
    }
  })

  it("joins the data lines of one event with \\n", () => {
    expect(decodeParts(["data: first\ndata: second\r\ndata:\n\n"])).toEqual([message("first\nsecond\n")])
  })

  it("strips exactly one space after the colon", () => {
    expect(decodeParts(["data:no-space\n\ndata:  two spaces\n\n"])).toEqual([message("no-space"), message(" two spaces")])
  })

  it("ignores comment lines, such as keep-alives", () => {
    expect(decodeParts([": keep-alive\ndata: a\n: between lines\n\n:ping\n\n"])).toEqual([message("a")])
  })

  it("reads event names and ids; the last id carries over to later events", () => {
    expect(decodeParts(["event: delta\nid: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"])).toEqual([
      message("a", { event: "delta", id: "7" }),
      message("b", { id: "7" }),
      message("c")
    ])
  })

  it("dispatches nothing for a block without data, and ignores retry and unknown fields", () => {
    expect(decodeParts(["event: ping\n\nretry: 1000\nfoo: bar\ndata: x\n\n"])).toEqual([message("x")])
  })

  it("treats a line without a colon as a field with an empty value", () => {
    expect(decodeParts(["data\ndata\n\n"])).toEqual([message("\n")])
  })

  it("dispatches an event the server did not close with a blank line", () => {
    expect(decodeParts(["data: a\n\ndata: b"])).toEqual([message("a"), message("b")])
    expect(decodeParts(["data: a\r\n"])).toEqual([message("a")])
  })

  it("keeps a CRLF split over two chunks as one line break", () => {
    expect(decodeParts(["data: a\r", "\ndata: b\r", "\n\r", "\n"])).toEqual([message("a\nb")])
  })

  it("decodes a UTF-8 character split over two chunks", () => {
    const bytes = utf8.encode("data: Olá 🌍\n\n")
    const cut = bytes.indexOf(0xf0) + 2 // inside the 4-byte emoji
    expect(decodeParts([bytes.slice(0, 9), bytes.slice(9, cut), bytes.slice(cut)])).toEqual([message("Olá 🌍")])
  })

  it("drops a leading byte order mark", () => {
    expect(decodeParts([new Uint8Array([0xef, 0xbb, 0xbf]), "data: a\n\n"])).toEqual([message("a")])
  })

  it("replaces a UTF-8 sequence cut by the end of the stream instead of losing the event", () => {
    expect(decodeParts([utf8.encode("data: é").slice(0, -1)])).toEqual([message("\uFFFD")])
  })

  it("passes an upstream failure through after the events completed before it", () => {
    const result = Effect.runSync(
      Stream.runCollect(
        Stream.either(decodeSse(Stream.concat(Stream.make(utf8.encode("data: a\n\ndata: partial")), Stream.fail("boom"))))
      )
    )
    expect(Chunk.toReadonlyArray(result)).toEqual([Either.right(message("a")), Either.left("boom")])
  })

  it("can run the same stream twice", () => {
    const events = decodeSse(Stream.make(utf8.encode("data: a\n\ndata: b")))
    const twice = Effect.runSync(Stream.runCollect(Stream.concat(events, events)))
    expect(Chunk.toReadonlyArray(twice)).toEqual([message("a"), message("b"), message("a"), message("b")])
  })
})

describe("encodeSse", () => {
  it("frames data that decodeSse reads back, one data line per line", () => {
    expect(encodeSse("[DONE]")).toBe("data: [DONE]\n\n")
    expect(encodeSse("a\nb")).toBe("data: a\ndata: b\n\n")
    const payloads = ["{\"x\":1}", "a\nb", " leading space", "", "crlf\r\nline"]
    expect(decodeParts([payloads.map(encodeSse).join("")]).map((event) => event.data)).toEqual([
      "{\"x\":1}",
      "a\nb",
      " leading space",
      "",
      "crlf\nline"
    ])
  })
})

// ---------------------------------------------------------------------------
// Property: any split of a valid stream gives the events the spec says
// ---------------------------------------------------------------------------

type Line =
  | { readonly field: "data" | "event" | "id"; readonly value: string; readonly sep: ":" | ": " }
  | { readonly field: "comment"; readonly value: string }

interface Block {
  readonly lines: ReadonlyArray<Line>
}

const lineText = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 })
).map((text) => text.replace(/[\r\n\0]/g, "_"))

const lineArb: fc.Arbitrary<Line> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ field: fc.constant("data" as const), value: lineText, sep: fc.constantFrom(":" as const, ": " as const) }) },
  { weight: 1, arbitrary: fc.record({ field: fc.constantFrom("event" as const, "id" as const), value: lineText, sep: fc.constantFrom(":" as const, ": " as const) }) },
  { weight: 1, arbitrary: fc.record({ field: fc.constant("comment" as const), value: lineText }) }
)

const streamArb = fc.record({
  blocks: fc.array(fc.record({ lines: fc.array(lineArb, { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 6 }),
  eol: fc.constantFrom("\n", "\r\n", "\r"),
  /** How the stream ends: blank line after the last block, its last line ended, or cut mid-line. */
  ending: fc.constantFrom("blank", "line", "cut"),
  cuts: fc.array(fc.nat(), { maxLength: 12 })
})

const serialize = (blocks: ReadonlyArray<Block>, eol: string, ending: string): string =>
  blocks
    .map((block, b) => {
      const lines = block.lines.map((line) => (line.field === "comment" ? `:${line.value}` : `${line.field}${line.sep}${line.value}`))
      const last = b === blocks.length - 1
      if (!last || ending === "blank") return lines.join(eol) + eol + eol
      return lines.join(eol) + (ending === "line" ? eol : "")
    })
    .join("")

/** The events the spec dispatches for `blocks` (the last one dispatched at end of stream). */
const expectedEvents = (blocks: ReadonlyArray<Block>): ReadonlyArray<SseEvent> => {
  const events: Array<SseEvent> = []
  let lastId = ""
  for (const block of blocks) {
    const data: Array<string> = []
    let type = ""
    for (const line of block.lines) {
      if (line.field === "comment") continue
      const value = line.sep === ":" && line.value.startsWith(" ") ? line.value.slice(1) : line.value
      if (line.field === "data") data.push(value)
      else if (line.field === "event") type = value
      else lastId = value
    }
    if (data.length > 0) events.push({ event: type || undefined, data: data.join("\n"), id: lastId || undefined })
  }
  return events
}

const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const points = cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b)
  return [...points, bytes.length].map((end, k) => bytes.slice(k === 0 ? 0 : points[k - 1], end))
}

describe("decodeSse (property)", () => {
  it("gives the same events for any split of the bytes, even inside a character", () => {
    fc.assert(
      fc.property(streamArb, ({ blocks, eol, ending, cuts }) => {
        const bytes = utf8.encode(serialize(blocks, eol, ending))
        const whole = decodeParts([bytes])
        expect(whole).toEqual(expectedEvents(blocks))
        expect(decodeParts(splitAt(bytes, cuts))).toEqual(whole)
        expect(decodeParts(splitAt(bytes, Array.from(bytes.keys())))).toEqual(whole) // byte by byte
      }),
      { numRuns: 200 }
    )
  })
})
