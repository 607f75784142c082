/**
 * What a run looked like from the server's side, second by second: attempts served,
 * refused with 429 and failed, as the simulator logged them, plus the limiter's queue
 * depth as sampled by the client.
 *
 * @internal
 */
import type * as Simulator from "../../simulator/Simulator.js"

export interface Timeline {
  /** Seconds each bucket covers. */
  readonly bucketSeconds: number
  /** Attempts answered with a usable success. */
  readonly served: ReadonlyArray<number>
  /** Attempts answered 429. */
  readonly refused: ReadonlyArray<number>
  /** Other failed attempts: 5xx, resets, errors inside a 200, cut answers. */
  readonly failed: ReadonlyArray<number>
  /** The deepest limiter queue seen in the bucket. */
  readonly queued: ReadonlyArray<number>
}

export interface QueueSample {
  /** Milliseconds since the run started. */
  readonly atMillis: number
  readonly queued: number
}

/** Faults that leave a 2xx status but no usable answer. */
const brokenSuccess = new Set<Simulator.LoggedRequest["fault"]>(["errorInOk", "malformed", "dropStream"])

type Outcome = "served" | "refused" | "failed"

const outcomeOf = (entry: Simulator.LoggedRequest): Outcome => {
  if (entry.status === 429) return "refused"
  const ok = entry.status !== null && entry.status >= 200 && entry.status < 300 && entry.outcome === "completed"
  return ok && !brokenSuccess.has(entry.fault) ? "served" : "failed"
}

/**
 * Bucket the simulator's log by the second each request ended in, from `startMillis`
 * (same clock as the log) for `seconds` seconds (at least one bucket).
 */
export const fromLog = (
  log: ReadonlyArray<Simulator.LoggedRequest>,
  queue: ReadonlyArray<QueueSample>,
  startMillis: number,
  seconds: number
): Timeline => {
  const buckets = Math.max(1, Math.ceil(seconds))
  const counts: Record<Outcome, Array<number>> = {
    served: new Array<number>(buckets).fill(0),
    refused: new Array<number>(buckets).fill(0),
    failed: new Array<number>(buckets).fill(0)
  }
  const bucketOf = (millis: number) => Math.min(buckets - 1, Math.max(0, Math.floor((millis - startMillis) / 1000)))
  for (const entry of log) {
    if (entry.endedAt === undefined) continue
    const series = counts[outcomeOf(entry)]
    const bucket = bucketOf(entry.endedAt)
    series[bucket] = (series[bucket] ?? 0) + 1
  }
  const queued = new Array<number>(buckets).fill(0)
  for (const sample of queue) {
    const bucket = bucketOf(startMillis + sample.atMillis)
    queued[bucket] = Math.max(queued[bucket] ?? 0, sample.queued)
  }
  return { bucketSeconds: 1, ...counts, queued }
}
