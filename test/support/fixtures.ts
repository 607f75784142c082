/**
 * The recorded xAI traffic the tests read, kept in this repository (`test/fixtures/`, see its
 * README.md for sources and licences): the error bodies xAI really sent
 * (`xai-error-bodies.json`) and chat exchanges in `xai-recorded/*.yaml` (go-vcr "version: 2"
 * cassettes), loaded without a YAML dependency.
 *
 * The cassettes use two scalar styles for bodies: single-quoted (`'...'`, a quote written
 * as `''`, long values possibly folded over several lines) for JSON, and block literals
 * (`|+`, `|`, `|-`, optionally with an indentation digit) for event streams. Anything else
 * is reported as an error naming the line, never guessed.
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** One recorded request/response pair. */
export interface RecordedInteraction {
  readonly requestBody: string
  /** `request.content_length`: the byte length of the body as sent. */
  readonly requestContentLength: number | undefined
  readonly responseBody: string
  readonly status: number | undefined
  readonly responseContentType: string | undefined
}

export interface Cassette {
  readonly name: string
  readonly interactions: ReadonlyArray<RecordedInteraction>
}

const fixturesDir = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures")

/** `test/fixtures/xai-recorded`. */
export const recordedDir = resolve(fixturesDir, "xai-recorded")

/** One real xAI error body, with the status it came with. */
export interface ErrorBodyCase {
  readonly name: string
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body: unknown
}

/** Every case of `test/fixtures/xai-error-bodies.json`. */
export const errorBodyCases: ReadonlyArray<ErrorBodyCase> = (JSON.parse(
  readFileSync(resolve(fixturesDir, "xai-error-bodies.json"), "utf8")
) as { cases: ReadonlyArray<ErrorBodyCase> }).cases

/** The error body case named `name` (throws when there is none: a typo in a test). */
export const errorBodyCase = (name: string): ErrorBodyCase => {
  const found = errorBodyCases.find((c) => c.name === name)
  if (found === undefined) throw new Error(`no fixture ${name}`)
  return found
}

/** File names of every cassette, sorted. */
export const cassetteNames = (): ReadonlyArray<string> =>
  readdirSync(recordedDir).filter((file) => file.endsWith(".yaml")).sort()

export const loadCassette = (name: string): Cassette => {
  try {
    return { name, interactions: parseCassette(readFileSync(join(recordedDir, name), "utf8")) }
  } catch (error) {
    throw new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

export const isEventStream = (interaction: RecordedInteraction): boolean =>
  interaction.responseContentType?.startsWith("text/event-stream") ?? false

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

interface Section {
  body?: string
  contentLength?: number
  code?: number
  contentType?: string
}

const indentOf = (line: string): number => line.length - line.trimStart().length
const isBlank = (line: string): boolean => line.trim() === ""

/** Parses the text of a cassette into its interactions. */
export const parseCassette = (text: string): ReadonlyArray<RecordedInteraction> => {
  const lines = text.split(/\r?\n/)
  const interactions: Array<{ request: Section; response: Section }> = []
  let section: Section | undefined
  let headerName: string | undefined
  let i = 0
  while (i < lines.length) {
    const line = lines[i] ?? ""
    const lineNo = i + 1
    i++
    if (/^- /.test(line)) {
      interactions.push({ request: {}, response: {} })
      section = undefined
      continue
    }
    const current = interactions.at(-1)
    const sectionHeader = /^  (request|response):\s*$/.exec(line)
    if (sectionHeader && current) {
      section = sectionHeader[1] === "request" ? current.request : current.response
      continue
    }
    if (section === undefined) continue
    if (indentOf(line) === 4) headerName = undefined
    const field = /^    (body|content_length|code):(.*)$/.exec(line)
    if (field) {
      const [, key, rest = ""] = field
      if (key === "body") {
        const scalar = readScalar(lines, i, 4, rest.trim(), lineNo)
        section.body = scalar.value
        i = scalar.next
      } else if (key === "content_length") {
        section.contentLength = Number(rest.trim())
      } else {
        section.code = Number(rest.trim())
      }
      continue
    }
    const header = /^      ([A-Za-z0-9-]+):\s*$/.exec(line)
    if (header) {
      headerName = header[1]?.toLowerCase()
      continue
    }
    const headerValue = /^      - (.*)$/.exec(line)
    if (headerValue && headerName === "content-type") section.contentType = headerValue[1]
  }
  return interactions.map(({ request, response }, index) => {
    if (request.body === undefined || response.body === undefined) {
      throw new Error(`interaction ${index} has no request or response body`)
    }
    return {
      requestBody: request.body,
      requestContentLength: request.contentLength,
      responseBody: response.body,
      status: response.code,
      responseContentType: response.contentType
    }
  })
}

interface Scalar {
  readonly value: string
  /** Index of the first line after the scalar. */
  readonly next: number
}

/** Reads the scalar value of a `key:` at `keyIndent` whose text after the colon is `rest`. */
const readScalar = (
  lines: ReadonlyArray<string>,
  next: number,
  keyIndent: number,
  rest: string,
  lineNo: number
): Scalar => {
  if (rest.startsWith("'")) return readSingleQuoted(lines, next, rest.slice(1), lineNo)
  const block = /^\|([1-9])?([+-])?$|^\|([+-])([1-9])$/.exec(rest)
  if (block) {
    const digit = block[1] ?? block[4]
    const chomp = block[2] ?? block[3]
    return readBlockLiteral(lines, next, digit === undefined ? undefined : keyIndent + Number(digit), chomp)
  }
  throw new Error(`line ${lineNo}: unsupported YAML scalar style: ${rest.slice(0, 20)}`)
}

/** A single-quoted scalar: `''` is a quote; line breaks fold as in YAML flow scalars. */
const readSingleQuoted = (lines: ReadonlyArray<string>, next: number, first: string, lineNo: number): Scalar => {
  const rawLines: Array<string> = []
  let text = first
  let i = next
  for (;;) {
    const close = closingQuote(text)
    if (close !== -1) {
      rawLines.push(text.slice(0, close))
      break
    }
    rawLines.push(text)
    if (i >= lines.length) throw new Error(`line ${lineNo}: unterminated single-quoted scalar`)
    text = lines[i] ?? ""
    i++
  }
  return { value: foldFlowLines(rawLines).replaceAll("''", "'"), next: i }
}

/** Index of the first `'` that is not part of a `''` pair, or -1. */
const closingQuote = (text: string): number => {
  for (let at = text.indexOf("'"); at !== -1; at = text.indexOf("'", at + 2)) {
    if (text[at + 1] !== "'") return at
  }
  return -1
}

/** YAML flow folding: one line break is a space, each further (empty) line a newline. */
const foldFlowLines = (rawLines: ReadonlyArray<string>): string => {
  if (rawLines.length === 1) return rawLines[0] ?? ""
  let out = (rawLines[0] ?? "").trimEnd()
  let emptyLines = 0
  for (let k = 1; k < rawLines.length; k++) {
    const isLast = k === rawLines.length - 1
    const piece = isLast ? (rawLines[k] ?? "").trimStart() : (rawLines[k] ?? "").trim()
    if (piece === "" && !isLast) {
      emptyLines++
      continue
    }
    out += (emptyLines === 0 ? " " : "\n".repeat(emptyLines)) + piece
    emptyLines = 0
  }
  return out
}

/** A `|` block: lines kept as they are, less the block's indentation. */
const readBlockLiteral = (
  lines: ReadonlyArray<string>,
  next: number,
  explicitIndent: number | undefined,
  chomp: string | undefined
): Scalar => {
  let i = next
  const indent = explicitIndent ?? indentOf(lines.slice(next).find((line) => !isBlank(line)) ?? "")
  const content: Array<string> = []
  while (i < lines.length) {
    const line = lines[i] ?? ""
    if (isBlank(line) && line.length <= indent) content.push("")
    else if (indentOf(line) >= indent && indent > 0) content.push(line.slice(indent))
    else break
    i++
  }
  // A file's last newline leaves one empty string after the split: not part of the block.
  if (i === lines.length && content.at(-1) === "") content.pop()
  const text = content.map((line) => `${line}\n`).join("")
  const value = chomp === "+" ? text : chomp === "-" ? text.replace(/\n+$/, "") : text.replace(/\n+$/, "\n")
  return { value, next: i }
}
