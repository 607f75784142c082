/**
 * How a benchmark child carries a scenario's load with its client: closed (N calls, C at a
 * time), open (one call every 1/R seconds whatever happened to the others), or the overhead
 * measurement (calls one after another, each paired with a raw HttpClient call).
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import type { BenchClient, CallOutcome } from "./clients.js"
import type { Workload } from "./scenarios.js"

/** @since 0.1.0 */
export interface LoadResult {
  readonly requests: number
  readonly ok: number
  readonly failed: number
  /** Failures by kind. */
  readonly errors: Readonly<Record<string, number>>
  /** Overhead only: median microseconds of a call of the client, of a raw call, and of the pairs' difference. */
  readonly usPerCall?: number | undefined
  readonly rawUsPerCall?: number | undefined
  readonly overheadUs?: number | undefined
}

class Tally {
  ok = 0
  failed = 0
  readonly errors: Record<string, number> = {}

  record(outcome: CallOutcome): void {
    if (outcome.ok) {
      this.ok++
      return
    }
    this.failed++
    this.errors[outcome.kind] = (this.errors[outcome.kind] ?? 0) + 1
  }
}

/** @since 0.1.0 */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] ?? 0 : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/** Microseconds `call` takes. */
const timed = <A>(call: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    const result = yield* call
    return [Number((yield* Clock.currentTimeNanos) - start) / 1e3, result] as const
  })

/**
 * Calls in pairs, one of the client and one raw, in alternating order: the machine's load
 * (other processes, GC, the simulator sharing the CPU) hits both sides of a pair alike, and
 * the median of the pairs' differences is what the client adds.
 */
const pairs = (client: BenchClient, raw: BenchClient, count: number, tally?: Tally) =>
  Effect.gen(function*() {
    const mine: Array<number> = []
    const baseline: Array<number> = []
    const differences: Array<number> = []
    for (let i = 0; i < count; i++) {
      const both = i % 2 === 0
        ? Effect.zip(timed(client.call(i)), timed(raw.call(i)))
        : Effect.map(Effect.zip(timed(raw.call(i)), timed(client.call(i))), ([rawCall, clientCall]) => [clientCall, rawCall] as const)
      const [[clientMicros, outcome], [rawMicros]] = yield* both
      tally?.record(outcome)
      mine.push(clientMicros)
      baseline.push(rawMicros)
      differences.push(clientMicros - rawMicros)
    }
    return { usPerCall: median(mine), rawUsPerCall: median(baseline), overheadUs: median(differences) }
  })

const round = (micros: number) => Math.round(micros * 10) / 10

const indices = (count: number) => Array.from({ length: count }, (_, i) => i)

/**
 * Carry `workload` with `client`; `raw` is the baseline of the overhead measurement.
 *
 * @since 0.1.0
 */
export const run = (workload: Workload, client: BenchClient, raw: BenchClient): Effect.Effect<LoadResult> =>
  Effect.gen(function*() {
    const tally = new Tally()
    const totals = () => ({ ok: tally.ok, failed: tally.failed, errors: tally.errors })
    switch (workload._tag) {
      case "closed": {
        yield* Effect.forEach(indices(workload.requests), (i) => Effect.map(client.call(i), (o) => tally.record(o)), {
          concurrency: workload.concurrency,
          discard: true
        })
        return { requests: workload.requests, ...totals() }
      }
      case "open": {
        // Call i starts i / perSecond seconds in.
        yield* Effect.forEach(
          indices(workload.requests),
          (i) => Effect.delay(Effect.map(client.call(i), (o) => tally.record(o)), (i * 1000) / workload.perSecond),
          { concurrency: "unbounded", discard: true }
        )
        return { requests: workload.requests, ...totals() }
      }
      case "overhead": {
        yield* pairs(client, raw, workload.warmup)
        const measured = yield* pairs(client, raw, workload.calls, tally)
        return {
          requests: workload.calls,
          ...totals(),
          usPerCall: round(measured.usPerCall),
          rawUsPerCall: round(measured.rawUsPerCall),
          overheadUs: round(measured.overheadUs)
        }
      }
    }
  })
