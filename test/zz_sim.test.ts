import { it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, TestClock } from "effect"
import type { Outcome } from "../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"

const server = (rps: number, burst: number) => {
  const interval = 1000 / rps
  let tat = -Infinity
  return (now: number) => {
    const t = Math.max(tat, now)
    if (t - now + interval > burst * interval + 1e-6) return { ok: false, debt: t - now }
    tat = t + interval
    return { ok: true, debt: tat - now }
  }
}

const simulate = (options: RateLimiterMemory.LimiterOptions, headers: boolean, latency: number, burst: number) =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiterMemory.make(options)
    const admit = server(20, burst)
    let rejected = 0
    const one = Effect.gen(function*() {
      while (true) {
        const permit = yield* limiter.acquire({ key: "sim", tokens: 0, priority: "normal" })
        yield* Effect.sleep(Duration.millis(latency / 2))
        const d = admit(yield* Clock.currentTimeMillis)
        yield* Effect.sleep(Duration.millis(latency / 2))
        const rateLimit = headers ? { requests: { limit: 1200, remaining: Math.max(0, Math.floor((burst * 50 - d.debt) / 50)), resetAfter: Duration.millis(Math.ceil(d.debt)) }, tokens: {} } : undefined
        const outcome: Outcome = d.ok ? { status: 200, rateLimit } : { status: 429, rateLimited: true, rateLimit }
        yield* permit.release(outcome)
        if (d.ok) return
        rejected++
      }
    })
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Effect.forEach(Array.from({ length: 200 }), () => one, { concurrency: 50, discard: true }).pipe(Effect.zipRight(Clock.currentTimeMillis)))
    const trace: Array<string> = []
    for (let i = 0; i < 70; i++) {
      yield* TestClock.adjust("250 millis")
      const st = yield* limiter.stats("sim")
      trace.push(`${(i + 1) / 4}s:${st.requestsPerSecond.toFixed(1)}/q${st.queued}/f${st.inFlight}`)
    }
    if (process.env.TRACE) console.log(trace.join(" "))
    const end = yield* Fiber.join(fiber)
    return { rejected, seconds: (end - start) / 1000 }
  }).pipe(Effect.scoped)

for (const latency of [300]) for (const burst of [1]) {
  it.effect(`sim lat=${latency} burst=${burst}`, () => Effect.gen(function*() {
    const out: Array<string> = []
    for (const [name, opts, headers] of [["none", {}, false], ["headers", {}, true], ["rpm", { limits: { requestsPerMinute: 1200 } }, false]] as const) {
      const r = yield* simulate(opts, headers, latency, burst)
      out.push(`${name}: 429=${r.rejected} (${(100 * r.rejected / 200).toFixed(1)}%) t=${r.seconds}s (${(r.seconds / 10).toFixed(2)}x)`)
    }
    console.log(`lat=${latency} burst=${burst}\n  ` + out.join("\n  "))
  }))
}
