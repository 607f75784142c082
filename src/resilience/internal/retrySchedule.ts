/**
 * Stepping a schedule by hand: the retry loop needs to know a delay before it sleeps (to
 * check the deadline and the budget), and tests and benchmarks read delays without sleeping.
 *
 * @internal
 */
import { Effect, Option, type Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

export interface Step {
  /** How long to wait before the next recurrence. */
  readonly delayMillis: number
  /** The schedule's state for the step after this one. */
  readonly state: unknown
}

/** One step of `schedule` at `now` for `input`; `None` when the schedule is done. */
export const step = <In, R>(
  schedule: Schedule.Schedule<unknown, In, R>,
  now: number,
  input: In,
  state: unknown
): Effect.Effect<Option.Option<Step>, never, R> =>
  Effect.map(schedule.step(now, input, state), ([next, _out, decision]) =>
    ScheduleDecision.isDone(decision)
      ? Option.none()
      : Option.some({ delayMillis: Math.max(0, ScheduleIntervals.start(decision.intervals) - now), state: next }))

/**
 * The delays `schedule` chooses for `inputs`, one per input, on a clock that moves by each
 * delay; shorter than `inputs` when the schedule stops early.
 */
export const delays = <In, R>(
  schedule: Schedule.Schedule<unknown, In, R>,
  inputs: Iterable<In>
): Effect.Effect<ReadonlyArray<number>, never, R> =>
  Effect.gen(function*() {
    const chosen: Array<number> = []
    let now = 0
    let state: unknown = schedule.initial
    for (const input of inputs) {
      const next = yield* step(schedule, now, input, state)
      if (Option.isNone(next)) break
      chosen.push(next.value.delayMillis)
      now += next.value.delayMillis
      state = next.value.state
    }
    return chosen
  })
