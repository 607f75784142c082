/**
 * The demo's live view: a progress bar and the run's vital signs, redrawn in place on a
 * terminal, or printed as plain lines when the output is a pipe or a file.
 *
 * @internal
 */

/** Where a run stands, as shown live. */
export interface Snapshot {
  readonly elapsedMillis: number
  readonly requests: number
  readonly done: number
  readonly ok: number
  readonly failed: number
  /** Successful calls per second over the last few seconds. */
  readonly okPerSecond: number
  readonly quotaPerSecond: number
  /** The request rate the limiter currently paces to (`Infinity` while it knows no limit). */
  readonly pacedPerSecond: number
  readonly coolingDown: boolean
  readonly attempts: number
  readonly retries: number
  readonly status429: number
  readonly queued: number
  readonly inFlight: number
  /** Once SIGINT or SIGTERM asked the run to stop: what it is waiting for. */
  readonly stopping?: string | undefined
}

/** `██████░░░░` for `done` out of `total`, `width` cells wide. */
export const progressBar = (done: number, total: number, width: number): string => {
  const filled = total <= 0 ? width : Math.round(Math.min(1, done / total) * width)
  return "█".repeat(filled) + "░".repeat(width - filled)
}

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

const rate = (perSecond: number) => perSecond.toFixed(1)

const pace = (snapshot: Snapshot) =>
  snapshot.coolingDown
    ? "limiter: cooling down after a 429"
    : Number.isFinite(snapshot.pacedPerSecond)
    ? `limiter paces ${rate(snapshot.pacedPerSecond)}/s`
    : "limiter: slow start, quota not known yet"

/** The lines of one frame on a terminal. */
export const frame = (snapshot: Snapshot): ReadonlyArray<string> => {
  const percent = snapshot.requests === 0 ? 100 : Math.floor((snapshot.done / snapshot.requests) * 100)
  return [
    `  ${progressBar(snapshot.done, snapshot.requests, 32)}  ${snapshot.done}/${snapshot.requests}  ${percent}%  ${
      seconds(snapshot.elapsedMillis)
    }`,
    `  rate     ${rate(snapshot.okPerSecond)} ok/s against a quota of ${snapshot.quotaPerSecond}/s   (${pace(snapshot)})`,
    `  calls    ok ${snapshot.ok}   failed ${snapshot.failed}   attempts ${snapshot.attempts}   retries ${snapshot.retries}   429s ${snapshot.status429}`,
    `  limiter  queued ${snapshot.queued}   in flight ${snapshot.inFlight}`,
    ...(snapshot.stopping === undefined ? [] : [`  ${snapshot.stopping}`])
  ]
}

/** One line for a log or a pipe. */
export const plainLine = (snapshot: Snapshot): string =>
  `[${seconds(snapshot.elapsedMillis).padStart(6)}] ${snapshot.done}/${snapshot.requests} done (ok ${snapshot.ok}, failed ${snapshot.failed})` +
  ` · ${rate(snapshot.okPerSecond)} ok/s of ${snapshot.quotaPerSecond}/s · attempts ${snapshot.attempts} · retries ${snapshot.retries}` +
  ` · 429s ${snapshot.status429} · queued ${snapshot.queued}`

const ESC = "\u001b["

/**
 * The text that replaces the `previous` lines drawn last time with `lines`: cursor up,
 * then each line cleared and rewritten.
 */
export const redraw = (previous: number, lines: ReadonlyArray<string>): string =>
  (previous > 0 ? `${ESC}${previous}F` : "") + lines.map((line) => `${ESC}2K${line}\n`).join("")

export const hideCursor = `${ESC}?25l`
export const showCursor = `${ESC}?25h`
