/**
 * The `batch` command's files, in OpenAI's batch formats: input lines
 * `{"custom_id","method","url","body"}`, output lines
 * `{"custom_id","response":{"status_code","request_id","body"},"error":null}` or
 * `{"custom_id","response":null,"error":{"code","message"}}`.
 *
 * Pure functions: what the command reads and writes, checked line by line.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import type * as GrokBatch from "../../GrokBatch.js"
import type * as GrokClient from "../../GrokClient.js"

/** The endpoints a batch line may name, and the batch request each one becomes. */
const endpoints: Readonly<Record<string, "chat" | "responses">> = {
  "/v1/chat/completions": "chat",
  "/v1/responses": "responses"
}

/** One input line: its number in the file and its request. */
export interface InputLine {
  readonly line: number
  readonly request: GrokBatch.BatchRequest
}

/** What is wrong with one line. */
export interface LineIssue {
  readonly line: number
  readonly message: string
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string } => {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) }
  }
}

/** The input's requests, or every malformed line (blank lines are skipped, their numbers kept). */
export const parseInput = (text: string): { readonly lines: ReadonlyArray<InputLine>; readonly issues: ReadonlyArray<LineIssue> } => {
  const lines: Array<InputLine> = []
  const issues: Array<LineIssue> = []
  const seen = new Map<string, number>()
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === "") return
    const parsed = parseJson(raw)
    if (!parsed.ok) return void issues.push({ line, message: `not valid JSON (${parsed.message})` })
    const value = parsed.value
    if (!isRecord(value)) return void issues.push({ line, message: "not a JSON object" })
    const id = value["custom_id"]
    if (typeof id !== "string" || id === "") return void issues.push({ line, message: "custom_id must be a non-empty string" })
    const earlier = seen.get(id)
    if (earlier !== undefined) return void issues.push({ line, message: `custom_id ${JSON.stringify(id)} is also on line ${earlier}` })
    seen.set(id, line)
    if (value["method"] !== "POST") return void issues.push({ line, message: `method must be "POST", got ${JSON.stringify(value["method"])}` })
    const url = value["url"]
    const endpoint = typeof url === "string" ? endpoints[url] : undefined
    if (endpoint === undefined) {
      return void issues.push({ line, message: `url must be /v1/chat/completions or /v1/responses, got ${JSON.stringify(url)}` })
    }
    const body = value["body"]
    if (!isRecord(body)) return void issues.push({ line, message: "body must be a JSON object" })
    // The body is checked against its endpoint's schema before anything is sent (GrokBatch names each bad one).
    lines.push({ line, request: endpoint === "chat" ? { id, chat: body as GrokClient.ChatRequest } : { id, responses: body as GrokClient.ResponsesRequest } })
  })
  return { lines, issues }
}

/**
 * The batch name a job gets when `--name` is not given: a digest of its requests (ids and
 * bodies, in order), so the same input always resumes the same batch and another input gets
 * its own.
 */
export const defaultName = (lines: ReadonlyArray<InputLine>): string => {
  const hash = createHash("sha256")
  for (const { request } of lines) {
    hash.update(request.id, "utf8")
    hash.update("\u0000")
    hash.update(JSON.stringify("chat" in request ? ["chat", request.chat] : ["responses", request.responses]), "utf8")
    hash.update("\n")
  }
  return `effect-grok-${hash.digest("hex").slice(0, 16)}`
}

/** An outcome as an output line (without its newline). */
export const outputLine = (outcome: GrokBatch.Outcome): string => {
  switch (outcome._tag) {
    case "Succeeded": {
      const body = outcome.body
      const requestId = isRecord(body) && typeof body["id"] === "string" ? body["id"] : outcome.batchRequestId
      return JSON.stringify({ custom_id: outcome.id, response: { status_code: 200, request_id: requestId, body }, error: null })
    }
    case "Failed":
      return JSON.stringify({ custom_id: outcome.id, response: null, error: { code: outcome.code ?? "failed", message: outcome.message } })
    case "Cancelled":
      return JSON.stringify({ custom_id: outcome.id, response: null, error: { code: "cancelled", message: outcome.message } })
  }
}

/** How an output line ended. */
export type Kind = "succeeded" | "failed" | "cancelled"

export const kindOf = (outcome: GrokBatch.Outcome): Kind =>
  outcome._tag === "Succeeded" ? "succeeded" : outcome._tag === "Failed" ? "failed" : "cancelled"

/** What an existing output file holds. */
export interface ExistingOutput {
  /** custom_id of each complete line, with how it ended. */
  readonly done: ReadonlyMap<string, Kind>
  /** Bytes of the file that hold complete lines: anything after (a line cut by a crash) is to be cut off. */
  readonly keepBytes: number
  /** Whether the file holds more than `keepBytes` (a partial last line). */
  readonly partial: boolean
  readonly issues: ReadonlyArray<LineIssue>
}

/**
 * Read an output file written by an earlier run: its complete lines (the last one may have
 * been cut by a crash: it is dropped), each custom_id once, each one from the input.
 */
export const readOutput = (bytes: Uint8Array, inputIds: ReadonlySet<string>): ExistingOutput => {
  const done = new Map<string, Kind>()
  const issues: Array<LineIssue> = []
  const text = Buffer.from(bytes).toString("utf8")
  const lastNewline = text.lastIndexOf("\n")
  const complete = lastNewline < 0 ? "" : text.slice(0, lastNewline + 1)
  complete.split("\n").forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === "") return
    const parsed = parseJson(raw)
    const value = parsed.ok ? parsed.value : undefined
    if (!isRecord(value) || typeof value["custom_id"] !== "string") {
      return void issues.push({ line, message: "not a result line written by effect-grok batch" })
    }
    const id = value["custom_id"]
    if (!inputIds.has(id)) return void issues.push({ line, message: `custom_id ${JSON.stringify(id)} is not in the input` })
    if (done.has(id)) return void issues.push({ line, message: `custom_id ${JSON.stringify(id)} is on an earlier line too` })
    const error = value["error"]
    done.set(id, error == null ? "succeeded" : isRecord(error) && error["code"] === "cancelled" ? "cancelled" : "failed")
  })
  const keepBytes = Buffer.byteLength(complete, "utf8")
  return { done, keepBytes, partial: keepBytes < bytes.length, issues }
}
