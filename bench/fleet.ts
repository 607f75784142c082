/**
 * A fleet sharing one quota: 3 processes of `effect-grok load`, 100 requests each, started
 * at once against one simulator (20 requests/s, burst 2, rate-limit headers). With `--redis`
 * they share one limiter through Redis; without, each paces itself alone, unaware of the
 * other two: the baseline that shows what sharing is for.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Either, Schema } from "effect"
import { fileURLToPath } from "node:url"
import * as Simulator from "../src/simulator/Simulator.js"
import { describeFailure, lastJson, runNode } from "./child.js"
import { benchApiKey, peakRssOf } from "./protocol.js"
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
export type FleetProcess = Pick<
  ResultLine,
  "scenario" | "client" | "requests" | "ok" | "failed" | "attempts" | "status429" | "seconds" | "peakRssMB" | "errors" | "error"
>

/** @since 0.1.0 */
export interface FleetResult {
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
}

/** The built CLI (`npm run bench` builds it first), as a user runs it. */
const binPath = fileURLToPath(new URL("../../dist/cli/bin.js", import.meta.url))

/**
 * Run the fleet; `redisUrl` shares the limiter, `undefined` leaves each process alone.
 *
 * @since 0.1.0
 */
export const run = (options: { readonly redisUrl: string | undefined; readonly preload: string }): Effect.Effect<FleetResult> =>
  Effect.scoped(Effect.gen(function*() {
    const limiter = options.redisUrl === undefined ? "memory" : "redis"
    const scenario = `fleet-${limiter}`
    const sim = yield* Simulator.make({ quota, headers: "openai", retryAfter: "seconds", seed: 1 }).pipe(Effect.orDie)
    const startMillis = yield* Clock.currentTimeMillis
    const args = [
      "--import",
      options.preload,
      binPath,
      "load",
      "--base-url",
      sim.url,
      "--requests",
      String(requestsEach),
      "--concurrency",
      "20",
      "--json",
      ...(options.redisUrl === undefined ? [] : ["--redis", options.redisUrl])
    ]
    const runs = yield* Effect.forEach(
      Array.from({ length: processes }, (_, i) => i + 1),
      (n) =>
        Effect.map(runNode(args, { timeout, env: { XAI_API_KEY: benchApiKey } }), (run): FleetProcess => {
          const client = `effect-grok load #${n}`
          const peakRssMB = peakRssOf(run.stderr) ?? null
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
              error: describeFailure(run, timeout)
            }
          }
          const { attempts, errors, failed, ok, requests, seconds, status429 } = summary.right
          return { scenario, client, requests, ok, failed, attempts, status429, seconds, peakRssMB, errors }
        }),
      { concurrency: "unbounded" }
    )
    const log = yield* sim.log
    const lastEnd = log.reduce((last, entry) => Math.max(last, entry.endedAt ?? 0), startMillis)
    const firstStart = log.reduce((first, entry) => Math.min(first, entry.startedAt), lastEnd)
    const counts = serverCounts(log, startMillis)
    return {
      limiter,
      processes: runs,
      server: {
        attempts: counts.attempts,
        status429: counts.status429,
        seconds: Number(((lastEnd - firstStart) / 1000).toFixed(3)),
        idealSeconds
      }
    }
  }))

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
          Object.entries(p.errors).map(([tag, count]) => `${tag} ${count}`).join(", ")
        } | ${p.peakRssMB ?? "–"} |`
      ),
      `| ${result.limiter} | **all 3, as the server saw them** | ${sum(result.processes, "ok")} | ${sum(result.processes, "failed")} | ${result.server.attempts} | ${result.server.status429} | ${
        result.server.seconds.toFixed(1)
      } (ideal ${result.server.idealSeconds}) | | |`
    ]),
    ...(failures.length === 0 ? [] : ["", "Processes that gave no summary:", "", ...failures])
  ].join("\n")
}

const sum = (processes: ReadonlyArray<FleetProcess>, field: "ok" | "failed") =>
  processes.reduce((total, p) => total + p[field], 0)
