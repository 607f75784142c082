/**
 * A fleet sharing one quota: 3 processes of `effect-grok load`, 100 requests each, started
 * at once against one simulator (20 requests/s, burst 2, rate-limit headers). With `--redis`
 * they share one limiter through Redis; without, each paces itself alone, unaware of the
 * other two: the baseline that shows what sharing is for.
 *
 * The same fleet also runs with Redis taken away once 60 requests have been answered: killed
 * for good, killed and restarted empty, or paused (SIGSTOP: a hang) and resumed. Each process
 * then decides locally at the default share of the quota and goes back to Redis when it answers.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Either, Fiber, Option, Schema, type Scope, Stream } from "effect"
import { fileURLToPath } from "node:url"
import * as Simulator from "../src/simulator/Simulator.js"
import { describeFailure, lastJson, runNode } from "./child.js"
import { benchApiKey, peakRssOf } from "./protocol.js"
import type { ControlledRedis } from "./redisServer.js"
import { type ResultLine, serverCounts } from "./results.js"

const processes = 3
const requestsEach = 100
const quota = { requestsPerSecond: 20, burst: 2 }
const timeout = "90 seconds"

/** @since 0.1.0 */
export const idealSeconds = (processes * requestsEach) / quota.requestsPerSecond

/** The fields of `load --json` read here. */
const LoadSummary = Schema.Struct({
  requests: Schema.Number,
  ok: Schema.Number,
  failed: Schema.Number,
  attempts: Schema.Number,
  status429: Schema.Number,
  seconds: Schema.Number,
  errors: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/** One process of the fleet, as it summarised itself (attempts and 429s are its own). @since 0.1.0 */
export type FleetProcess =
  & Pick<
    ResultLine,
    "scenario" | "client" | "requests" | "ok" | "failed" | "attempts" | "status429" | "seconds" | "peakRssMB" | "errors" | "error"
  >
  & {
    /** `null` when it was killed at the timeout. */
    readonly exitCode: number | null
  }

/** @since 0.1.0 */
export interface FleetResult {
  readonly scenario: string
  readonly limiter: "redis" | "memory"
  readonly processes: ReadonlyArray<FleetProcess>
  /** What the server saw of the three together. */
  readonly server: {
    readonly attempts: number
    readonly status429: number
    /** From the first request's arrival to the last answer. */
    readonly seconds: number
    readonly idealSeconds: number
  }
  /** From the start of the three processes to the exit of the last (Node start-up included). */
  readonly wallSeconds: number
}

/** The CLI as users run it: the bundle `npm run bench` builds first (from .bench-build/bench/). */
const binPath = fileURLToPath(new URL("../../dist/cli/bin.js", import.meta.url))

const runFleet = (options: {
  readonly scenario: string
  readonly redisUrl: string | undefined
  readonly preload: string
  readonly loadFlags: ReadonlyArray<string>
  /** Runs beside the fleet (forked, interrupted when the fleet is done). */
  readonly meanwhile?: ((sim: Simulator.Service, startMillis: number) => Effect.Effect<void, never, Scope.Scope>) | undefined
}): Effect.Effect<FleetResult> =>
  Effect.scoped(Effect.gen(function*() {
    const limiter = options.redisUrl === undefined ? "memory" : "redis"
    const scenario = options.scenario
    const sim = yield* Simulator.make({ quota, headers: "openai", retryAfter: "seconds", seed: 1 }).pipe(Effect.orDie)
    const startMillis = yield* Clock.currentTimeMillis
    const meanwhile = options.meanwhile === undefined
      ? undefined
      : yield* Effect.forkScoped(options.meanwhile(sim, startMillis))
    const args = [
      "--import",
      options.preload,
      binPath,
      "load",
      "--base-url",
      sim.url,
      "--requests",
      String(requestsEach),
      ...options.loadFlags,
      "--json",
      ...(options.redisUrl === undefined ? [] : ["--redis", options.redisUrl])
    ]
    const runs = yield* Effect.forEach(
      Array.from({ length: processes }, (_, i) => i + 1),
      (n) =>
        Effect.map(runNode(args, { timeout, env: { XAI_API_KEY: benchApiKey } }), (run): FleetProcess => {
          const client = `effect-grok load #${n}`
          const peakRssMB = peakRssOf(run.stderr) ?? null
          const exitCode = run.code
          const summary = Schema.decodeUnknownEither(LoadSummary)(lastJson(run))
          if (Either.isLeft(summary)) {
            return {
              scenario,
              client,
              requests: requestsEach,
              ok: 0,
              failed: requestsEach,
              attempts: 0,
              status429: 0,
              seconds: 0,
              peakRssMB,
              errors: {},
              error: describeFailure(run, timeout),
              exitCode
            }
          }
          const { attempts, errors, failed, ok, requests, seconds, status429 } = summary.right
          return { scenario, client, requests, ok, failed, attempts, status429, seconds, peakRssMB, errors, exitCode }
        }),
      { concurrency: "unbounded" }
    )
    const wallSeconds = ((yield* Clock.currentTimeMillis) - startMillis) / 1000
    if (meanwhile !== undefined) yield* Fiber.interrupt(meanwhile)
    const log = yield* sim.log
    const lastEnd = log.reduce((last, entry) => Math.max(last, entry.endedAt ?? 0), startMillis)
    const firstStart = log.reduce((first, entry) => Math.min(first, entry.startedAt), lastEnd)
    const counts = serverCounts(log, startMillis)
    return {
      scenario,
      limiter,
      processes: runs,
      server: {
        attempts: counts.attempts,
        status429: counts.status429,
        seconds: Number(((lastEnd - firstStart) / 1000).toFixed(3)),
        idealSeconds
      },
      wallSeconds: Number(wallSeconds.toFixed(3))
    }
  }))

/**
 * Run the fleet; `redisUrl` shares the limiter, `undefined` leaves each process alone.
 *
 * @since 0.1.0
 */
export const run = (options: { readonly redisUrl: string | undefined; readonly preload: string }): Effect.Effect<FleetResult> =>
  runFleet({
    scenario: `fleet-${options.redisUrl === undefined ? "memory" : "redis"}`,
    redisUrl: options.redisUrl,
    preload: options.preload,
    loadFlags: ["--concurrency", "20"]
  })

/**
 * What happens to Redis mid-run: `killed` (SIGKILL, for good), `restarted` (SIGKILL, then a new
 * empty server on the same port), `paused` (SIGSTOP, then SIGCONT).
 *
 * @since 0.1.0
 */
export type RedisEvent = "killed" | "restarted" | "paused"

/** @since 0.1.0 */
export const redisEvents: ReadonlyArray<RedisEvent> = ["killed", "restarted", "paused"]

/** Redis goes once this many requests have been answered (a fifth of the run). */
const answersBeforeEvent = 60

/** How long a restarted or paused Redis stays away. */
const outage = Duration.seconds(3)

/** The command of issue 18, run by each process. */
const outageLoadFlags = ["--concurrency", "50", "--rpm", "1200"]

/** @since 0.1.0 */
export interface OutageResult extends FleetResult {
  readonly event: RedisEvent
  /** Seconds from the start of the run: when Redis went away, and came back (not when killed for good). */
  readonly awayAtSeconds: number | null
  readonly backAtSeconds: number | null
  /** The bar: every request served, every process exits 0, 429s and time within bounds. */
  readonly verdict: {
    readonly allServed: boolean
    readonly allExitedZero: boolean
    /** 429s the server sent, as a share of the requests. */
    readonly share429: number
    readonly maxSeconds: number
    readonly pass: boolean
  }
}

/** At most this share of the requests may meet a 429; the run may take 1.5x the ideal time plus 3 s. */
const bar = { share429: 0.25, maxSeconds: 1.5 * idealSeconds + 3 }

/**
 * The fleet of issue 18 (`load --requests 100 --concurrency 50 --rpm 1200 --redis URL`, 3
 * processes, 20 requests/s), with `event` happening to `redis` once 60 requests have been answered.
 *
 * @since 0.1.0
 */
export const runOutage = (options: {
  readonly redis: ControlledRedis
  readonly event: RedisEvent
  readonly preload: string
}): Effect.Effect<OutageResult> =>
  Effect.gen(function*() {
    const { event, redis } = options
    let awayAt: number | null = null
    let backAt: number | null = null
    const sinceStart = (startMillis: number) => Effect.map(Clock.currentTimeMillis, (now) => (now - startMillis) / 1000)
    const takeRedisAway = (sim: Simulator.Service, startMillis: number) =>
      Effect.gen(function*() {
        const answered = yield* sim.subscribe
        yield* answered.pipe(
          Stream.filter((entry) => entry.status === 200),
          Stream.take(answersBeforeEvent),
          Stream.runDrain
        )
        yield* event === "paused" ? redis.freeze : redis.kill
        awayAt = yield* sinceStart(startMillis)
        if (event === "killed") return
        yield* Effect.sleep(outage)
        const back = event === "paused" ? Effect.as(redis.thaw, true) : redis.restart
        if (yield* back) backAt = yield* sinceStart(startMillis)
      })
    const result = yield* runFleet({
      scenario: `fleet-redis-${event}`,
      redisUrl: redis.url,
      preload: options.preload,
      loadFlags: outageLoadFlags,
      meanwhile: takeRedisAway
    })
    return {
      ...result,
      event,
      awayAtSeconds: Option.getOrNull(Option.map(Option.fromNullable(awayAt), round)),
      backAtSeconds: Option.getOrNull(Option.map(Option.fromNullable(backAt), round)),
      verdict: verdictOf(result)
    }
  })

/**
 * A fleet run against the bar: every request served, every process exited 0, the
 * server's 429s at most a quarter of the requests, its time at most 1.5x the ideal plus 3 s.
 *
 * @since 0.1.0
 */
export const verdictOf = (result: Pick<FleetResult, "processes" | "server">): OutageResult["verdict"] => {
  const requests = result.processes.reduce((total, p) => total + p.requests, 0)
  const ok = result.processes.reduce((total, p) => total + p.ok, 0)
  const share429 = requests === 0 ? 0 : result.server.status429 / requests
  const allServed = requests > 0 && ok === requests
  const allExitedZero = result.processes.length > 0 && result.processes.every((p) => p.exitCode === 0)
  return {
    allServed,
    allExitedZero,
    share429: round(share429),
    maxSeconds: bar.maxSeconds,
    pass: allServed && allExitedZero && share429 <= bar.share429 && result.server.seconds <= bar.maxSeconds
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000

/**
 * Both fleets as one Markdown table.
 *
 * @since 0.1.0
 */
export const table = (results: ReadonlyArray<FleetResult>): string => {
  const failures = results.flatMap((result) =>
    result.processes.flatMap((p) => (p.error === undefined ? [] : [`- ${result.limiter}, ${p.client}: ${p.error}`]))
  )
  return [
    "| limiter | process | ok | failed | attempts | 429s | time (s) | failures | peak RSS (MB) |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ...results.flatMap((result) => [
      ...result.processes.map((p) =>
        `| ${result.limiter} | ${p.client} | ${p.ok} | ${p.failed} | ${p.attempts} | ${p.status429} | ${p.seconds.toFixed(1)} | ${
          errorsOf(p)
        } | ${p.peakRssMB ?? "–"} |`
      ),
      `| ${result.limiter} | **all 3, as the server saw them** | ${sum(result.processes, "ok")} | ${sum(result.processes, "failed")} | ${result.server.attempts} | ${result.server.status429} | ${
        result.server.seconds.toFixed(1)
      } (ideal ${result.server.idealSeconds}) | | |`
    ]),
    ...(failures.length === 0 ? [] : ["", "Processes that gave no summary:", "", ...failures])
  ].join("\n")
}

/**
 * The runs with Redis taken away, as one Markdown table: per process its own figures and exit
 * code, then the fleet as the server saw it against the bar.
 *
 * @since 0.1.0
 */
export const outageTable = (results: ReadonlyArray<OutageResult>): string => {
  const failures = results.flatMap((result) =>
    result.processes.flatMap((p) => (p.error === undefined ? [] : [`- ${result.event}, ${p.client}: ${p.error}`]))
  )
  return [
    "| Redis | process | ok | failed | attempts | 429s | time (s) | exit | failures |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ...results.flatMap((result) => [
      ...result.processes.map((p) =>
        `| ${result.event} | ${p.client} | ${p.ok} | ${p.failed} | ${p.attempts} | ${p.status429} | ${p.seconds.toFixed(1)} | ${
          p.exitCode ?? "killed"
        } | ${errorsOf(p)} |`
      ),
      `| ${result.event} ${describeEvent(result)} | **all 3, as the server saw them** | ${sum(result.processes, "ok")} | ${
        sum(result.processes, "failed")
      } | ${result.server.attempts} | ${result.server.status429} (${(result.verdict.share429 * 100).toFixed(1)}%) | ${
        result.server.seconds.toFixed(1)
      } (bar ${result.verdict.maxSeconds}; wall ${result.wallSeconds.toFixed(1)}) | | **${result.verdict.pass ? "pass" : "FAIL"}** |`
    ]),
    ...(failures.length === 0 ? [] : ["", "Processes that gave no summary:", "", ...failures])
  ].join("\n")
}

const describeEvent = (result: OutageResult): string =>
  result.backAtSeconds === null
    ? `at ${result.awayAtSeconds ?? "–"} s`
    : `${result.awayAtSeconds ?? "–"}–${result.backAtSeconds} s`

const errorsOf = (p: FleetProcess) => Object.entries(p.errors).map(([tag, count]) => `${tag} ${count}`).join(", ")

const sum = (processes: ReadonlyArray<FleetProcess>, field: "ok" | "failed") =>
  processes.reduce((total, p) => total + p[field], 0)
