/**
 * Driving a program that mixes real loopback I/O with TestClock time.
 *
 * The program runs in a fiber. The driver lets real I/O settle (event-loop turns until
 * nothing observable changes), then moves the TestClock exactly to the next pending timer,
 * one timer at a time, like a discrete-event simulation. No real sleeps: virtual time only
 * moves while every party waits on the clock.
 */
import { Effect, Fiber, Option, TestClock } from "effect"
import type * as Simulator from "../../src/simulator/Simulator.js"

const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Event-loop turns until `observe` has not changed for `quietTurns` turns in a row. */
const settle = (observe: Effect.Effect<string>, quietTurns = 40) =>
  Effect.gen(function*() {
    let last = yield* observe
    let quiet = 0
    while (quiet < quietTurns) {
      yield* turn
      const now = yield* observe
      if (now === last) quiet++
      else {
        quiet = 0
        last = now
      }
    }
  })

/** What the simulator is doing, as a string that changes whenever anything happens. */
export const simulatorActivity = (sim: Simulator.Service): Effect.Effect<string> =>
  Effect.map(sim.log, (log) => `${log.length}:${log.map((r) => r.outcome[0]).join("")}`)

/**
 * Run `fiber` to completion, moving the TestClock to each next timer once the real world
 * is quiet. Fails the test if virtual time passes `limit` without the fiber finishing.
 */
export const drive = <A, E>(
  fiber: Fiber.RuntimeFiber<A, E>,
  observe: Effect.Effect<string> = Effect.succeed(""),
  limit: number = 24 * 60 * 60 * 1000
): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const activity = Effect.map(Effect.zip(observe, Fiber.status(fiber)), ([a, s]) => `${a}|${s._tag}`)
    while (true) {
      yield* settle(activity)
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* Fiber.join(fiber)
      const sleeps = yield* TestClock.sleeps()
      const now = yield* TestClock.currentTimeMillis
      if (now > limit) return yield* Effect.dieMessage(`program still running after ${limit} ms of virtual time`)
      const next = Math.min(...sleeps)
      if (next === Infinity) {
        // Nothing waits on the clock: real work is still going on; keep turning.
        continue
      }
      yield* TestClock.setTime(next)
    }
  })
