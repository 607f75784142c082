/**
 * The simulator's record of every request, and the counters tests wait on.
 *
 * Entries are mutable while their request runs and copied when read. The log keeps the
 * most recent `limit` entries so a long-running simulator does not grow without bound; the
 * counters count every request.
 *
 * @internal
 */
import { Effect } from "effect"
import type { FaultKind } from "../FaultPlan.js"
import type { Usage } from "../Simulator.js"

export type Outcome = "in-flight" | "completed" | "aborted" | "client-closed"

export interface Entry {
  readonly index: number
  readonly modelIndex: number | undefined
  readonly requestId: string
  readonly method: string
  readonly path: string
  readonly model: string | undefined
  readonly stream: boolean
  status: number | null
  fault: FaultKind | undefined
  outcome: Outcome
  readonly startedAt: number
  endedAt: number | undefined
  usage: Usage | undefined
}

interface Waiter {
  readonly count: number
  readonly resume: (effect: Effect.Effect<void>) => void
}

const waitFor = (waiters: Set<Waiter>, current: () => number, count: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (current() >= count) return resume(Effect.void)
    const waiter: Waiter = { count, resume }
    waiters.add(waiter)
    return Effect.sync(() => waiters.delete(waiter))
  })

const wake = (waiters: Set<Waiter>, count: number) => {
  for (const waiter of waiters) {
    if (waiter.count <= count) {
      waiters.delete(waiter)
      waiter.resume(Effect.void)
    }
  }
}

export const make = (limit: number) => {
  let entries: Array<Entry> = []
  let reserved = 0
  let arrived = 0
  let ended = 0
  let epoch = 0
  const arrivedWaiters = new Set<Waiter>()
  const endedWaiters = new Set<Waiter>()
  const entryEpochs = new WeakMap<Entry, number>()

  return {
    /** Takes the next request number (1-based); {@link arrive} logs the entry once it is built. */
    reserve: () => ++reserved,
    arrive: (entry: Entry) => {
      arrived += 1
      entries.push(entry)
      entryEpochs.set(entry, epoch)
      if (entries.length > limit * 2) entries = entries.slice(-limit)
      wake(arrivedWaiters, arrived)
    },
    end: (entry: Entry) => {
      if (entryEpochs.get(entry) !== epoch) return
      ended += 1
      wake(endedWaiters, ended)
    },
    snapshot: (): ReadonlyArray<Entry> => entries.slice(-limit).map((entry) => ({ ...entry })),
    arrivedCount: () => arrived,
    awaitArrived: (count: number) => waitFor(arrivedWaiters, () => arrived, count),
    awaitEnded: (count: number) => waitFor(endedWaiters, () => ended, count),
    clear: () => {
      entries = []
      reserved = 0
      arrived = 0
      ended = 0
      epoch += 1
    }
  }
}

export type RequestLog = ReturnType<typeof make>
