/**
 * Server-sent events framing (the `text/event-stream` format of the WHATWG HTML spec,
 * section 9.2) for streamed chat completions.
 *
 * Not `@effect/experimental/Sse`: it splits one event in two when a CRLF straddles two
 * network chunks, drops an event the server did not close with a blank line, and sleeps
 * and restarts on a `retry:` field, which only an auto-reconnecting EventSource wants.
 *
 * @since 0.1.0
 */
import { Chunk, Stream } from "effect"

/**
 * One dispatched event. `event` and `id` are `undefined` when the server never set them.
 *
 * @since 0.1.0
 */
export interface SseEvent {
  readonly event: string | undefined
  readonly data: string
  readonly id: string | undefined
}

const LINE_BREAK = /\r\n|\r|\n/g
const LF = 10
const COLON = 58

/**
 * Incremental parser: bytes in, events out. Bytes may be split anywhere, even inside a
 * UTF-8 character or between the CR and LF of one line break.
 */
class SseParser {
  private readonly decoder = new TextDecoder("utf-8")
  /** Text of the current line received so far, in pieces: joined once, when it ends. */
  private pendingLine: Array<string> = []
  /** The last text ended with CR: a LF starting the next text belongs to it. */
  private skipLeadingLF = false
  private dataLines: Array<string> = []
  private eventType = ""
  /** Per the spec the last event id carries over to later events until changed. */
  private lastEventId = ""
  private out: Array<SseEvent> = []

  feed(bytes: Uint8Array): Array<SseEvent> {
    this.feedText(this.decoder.decode(bytes, { stream: true }))
    return this.drain()
  }

  /** The stream ended: flush the decoder, end the last line and dispatch what is left. */
  end(): Array<SseEvent> {
    this.feedText(this.decoder.decode())
    if (this.pendingLine.length > 0) {
      this.processLine(this.takeLine(""))
    }
    this.dispatch()
    return this.drain()
  }

  private drain(): Array<SseEvent> {
    const events = this.out
    this.out = []
    return events
  }

  private feedText(text: string): void {
    if (text.length === 0) return
    let start = 0
    if (this.skipLeadingLF && text.charCodeAt(0) === LF) start = 1
    LINE_BREAK.lastIndex = start
    for (let match = LINE_BREAK.exec(text); match !== null; match = LINE_BREAK.exec(text)) {
      this.processLine(this.takeLine(text.slice(start, match.index)))
      start = LINE_BREAK.lastIndex
    }
    if (start < text.length) this.pendingLine.push(text.slice(start))
    this.skipLeadingLF = text.endsWith("\r")
  }

  private takeLine(lastPiece: string): string {
    if (this.pendingLine.length === 0) return lastPiece
    this.pendingLine.push(lastPiece)
    const line = this.pendingLine.join("")
    this.pendingLine = []
    return line
  }

  private processLine(line: string): void {
    if (line.length === 0) return this.dispatch()
    if (line.charCodeAt(0) === COLON) return // a comment (servers send them as keep-alives)
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    const valueStart = colon === -1 ? line.length : line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1
    const value = line.slice(valueStart)
    switch (field) {
      case "data":
        this.dataLines.push(value)
        return
      case "event":
        this.eventType = value
        return
      case "id":
        if (!value.includes("\u0000")) this.lastEventId = value
        return
      // `retry` and unknown fields only matter to a reconnecting EventSource: ignored.
    }
  }

  private dispatch(): void {
    if (this.dataLines.length > 0) {
      this.out.push({
        event: this.eventType === "" ? undefined : this.eventType,
        data: this.dataLines.join("\n"),
        id: this.lastEventId === "" ? undefined : this.lastEventId
      })
    }
    this.dataLines = []
    this.eventType = ""
  }
}

/**
 * Decodes a `text/event-stream` byte stream into events. An event still open when the
 * byte stream ends is dispatched; an upstream failure ends the stream with that failure
 * and drops the incomplete event.
 *
 * @since 0.1.0
 */
export const decodeSse = <E>(bytes: Stream.Stream<Uint8Array, E>): Stream.Stream<SseEvent, E> =>
  Stream.suspend(() => {
    const parser = new SseParser()
    return bytes.pipe(
      Stream.mapChunks((chunk) => Chunk.unsafeFromArray(Chunk.toReadonlyArray(chunk).flatMap((b) => parser.feed(b)))),
      Stream.concat(Stream.suspend(() => Stream.fromIterable(parser.end())))
    )
  })

/**
 * Frames `data` as one SSE event: one `data:` line per line of `data`, then a blank line.
 *
 * @since 0.1.0
 */
export const encodeSse = (data: string): string => `data: ${data.split(/\r\n|\r|\n/).join("\ndata: ")}\n\n`
