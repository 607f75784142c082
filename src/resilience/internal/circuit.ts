/**
 * The state machine of one circuit (one key), as plain synchronous steps on a mutable
 * record: the breaker runs each step inside one `Effect.sync`, so concurrent calls never
 * see half a transition.
 *
 * Closed: outcomes go into a sliding window of buckets; a failure trips the circuit when
 * the window holds at least `minimumCalls` outcomes and the failure ratio reaches
 * `failureRatio`. Open: every call is rejected until the break is over. Half-open: at most
 * `halfOpenCalls` probes are let through; one failure opens the circuit again, `halfOpenCalls`
 * successes close it with an empty window.
 *
 * The break starts at `breakMillis` when the circuit trips and doubles with each failed probe,
 * up to `maxBreakMillis`: a long outage is still probed every `maxBreakMillis`, so the circuit
 * closes soon after the dependency is back.
 *
 * Every transition bumps `generation`; an outcome is only counted in the generation that
 * admitted its call, so a slow call started before the circuit opened cannot close it.
 *
 * Calls that wait for the circuit stand in a line, in arrival order: while the circuit is not
 * closed only the first in line may ask to be let through, so probes go to the calls that have
 * waited longest, and a call whose probe failed goes to the back when it tries again.
 *
 * @internal
 */

export type StateName = "closed" | "half-open" | "open"

export type Verdict = "success" | "failure" | "ignore"

export interface Settings {
  readonly failureRatio: number
  readonly windowMillis: number
  readonly minimumCalls: number
  readonly breakMillis: number
  readonly maxBreakMillis: number
  readonly halfOpenCalls: number
}

/** The window is cut into this many buckets; it slides one bucket at a time. */
const BUCKETS = 10

interface Bucket {
  /** `floor(time / bucketMillis)`: which slice of time the bucket counts. */
  readonly slot: number
  calls: number
  failures: number
}

type Phase =
  | { readonly _tag: "closed"; readonly buckets: Array<Bucket> }
  | { readonly _tag: "open"; readonly until: number }
  | { readonly _tag: "half-open"; probesLeft: number; successes: number }

export interface Circuit {
  phase: Phase
  /** When the circuit last left `closed` (the outage's start), or `undefined` while closed. */
  openedAt: number | undefined
  generation: number
  /** Probes that failed since the circuit last closed: how many times the break has doubled. */
  failedProbes: number
  /** Positions of the waiting calls; a `Set` keeps them in the order they joined. */
  readonly line: Set<number>
  nextPosition: number
}

/** A call let through: the generation whose outcome it reports, and whether it is a half-open probe. */
export interface Ticket {
  readonly generation: number
  readonly probe: boolean
}

/** A call held back: until the break is over (`retryAfterMillis`), or, half-open, until a probe slot frees. */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly state: "open" | "half-open"
  readonly retryAfterMillis: number | undefined
}

export type Admission = { readonly _tag: "Admitted"; readonly ticket: Ticket } | Rejected

/** What a step changed, for the gauge and the logs; `undefined` when the state stayed. */
export type Transition = { readonly to: StateName; readonly failures?: number; readonly calls?: number } | undefined

export const make = (): Circuit => ({
  phase: { _tag: "closed", buckets: [] },
  openedAt: undefined,
  generation: 0,
  failedProbes: 0,
  line: new Set(),
  nextPosition: 0
})

export const stateOf = (circuit: Circuit): StateName => circuit.phase._tag

const enter = (circuit: Circuit, phase: Phase): void => {
  circuit.phase = phase
  circuit.generation++
}

const open = (circuit: Circuit, now: number, settings: Settings): void => {
  circuit.openedAt ??= now
  enter(circuit, {
    _tag: "open",
    until: now + Math.min(settings.breakMillis * 2 ** circuit.failedProbes, settings.maxBreakMillis)
  })
}

/** Let a call through, or say why not. An open circuit whose break is over half-opens here. */
export const admit = (circuit: Circuit, now: number, settings: Settings): readonly [Admission, Transition] => {
  let transition: Transition
  if (circuit.phase._tag === "open") {
    if (now < circuit.phase.until) {
      return [{ _tag: "Rejected", state: "open", retryAfterMillis: circuit.phase.until - now }, undefined]
    }
    enter(circuit, { _tag: "half-open", probesLeft: settings.halfOpenCalls, successes: 0 })
    transition = { to: "half-open" }
  }
  const phase = circuit.phase
  if (phase._tag === "half-open") {
    if (phase.probesLeft === 0) return [{ _tag: "Rejected", state: "half-open", retryAfterMillis: undefined }, transition]
    phase.probesLeft--
  }
  return [{ _tag: "Admitted", ticket: { generation: circuit.generation, probe: phase._tag === "half-open" } }, transition]
}

/**
 * Whether a call may ask to be let through: always while closed; otherwise only the first in
 * line, or a newcomer (`position` undefined) when nobody waits.
 */
export const mayAsk = (circuit: Circuit, position: number | undefined): boolean =>
  circuit.phase._tag === "closed" || (position === undefined ? circuit.line.size === 0 : firstInLine(circuit) === position)

const firstInLine = (circuit: Circuit): number | undefined => circuit.line.values().next().value

/** Stand at the back of the line. */
export const join = (circuit: Circuit): number => {
  const position = circuit.nextPosition++
  circuit.line.add(position)
  return position
}

/** Leave the line; answers whether the next call in line may now ask (the first left, and the circuit is not closed). */
export const leave = (circuit: Circuit, position: number): boolean => {
  const wasFirst = firstInLine(circuit) === position
  circuit.line.delete(position)
  return wasFirst && circuit.phase._tag !== "closed"
}

/** Count the outcome of an admitted call. */
export const record = (
  circuit: Circuit,
  ticket: Ticket,
  verdict: Verdict,
  now: number,
  settings: Settings
): Transition => {
  if (ticket.generation !== circuit.generation) return undefined
  const phase = circuit.phase
  switch (phase._tag) {
    case "open":
      return undefined
    case "half-open":
      if (verdict === "ignore") {
        phase.probesLeft++
        return undefined
      }
      if (verdict === "failure") {
        circuit.failedProbes++
        open(circuit, now, settings)
        return { to: "open" }
      }
      phase.successes++
      if (phase.successes < settings.halfOpenCalls) return undefined
      circuit.failedProbes = 0
      circuit.openedAt = undefined
      enter(circuit, { _tag: "closed", buckets: [] })
      return { to: "closed" }
    case "closed": {
      if (verdict === "ignore") return undefined
      const { calls, failures } = count(phase.buckets, verdict, now, settings)
      if (verdict === "failure" && calls >= settings.minimumCalls && failures >= settings.failureRatio * calls) {
        open(circuit, now, settings)
        return { to: "open", failures, calls }
      }
      return undefined
    }
  }
}

/** Add one outcome to the window, drop the buckets that slid out, and total what is left. */
const count = (buckets: Array<Bucket>, verdict: "success" | "failure", now: number, settings: Settings) => {
  const bucketMillis = settings.windowMillis / BUCKETS
  const slot = Math.floor(now / bucketMillis)
  while ((buckets[0]?.slot ?? slot) <= slot - BUCKETS) buckets.shift()
  let current = buckets[buckets.length - 1]
  if (current === undefined || current.slot !== slot) {
    current = { slot, calls: 0, failures: 0 }
    buckets.push(current)
  }
  current.calls++
  if (verdict === "failure") current.failures++
  let calls = 0
  let failures = 0
  for (const bucket of buckets) {
    calls += bucket.calls
    failures += bucket.failures
  }
  return { calls, failures }
}
