/**
 * Benchmark: the backoff contention experiment of the AWS Architecture Blog's "Exponential
 * Backoff And Jitter", replayed with this project's own `Backoff` schedules.
 *
 * `clients` clients each want to write once to one resource guarded by optimistic
 * concurrency: a call reads the resource's version, takes `callMillis`, and its write lands
 * only if no other write landed in between. A client whose write is refused backs off with
 * its own schedule and tries again. The benchmark counts the calls made (the work the
 * server absorbs) and the time until the last client is done.
 *
 * It runs on virtual time, a discrete-event loop over the schedules' delays stepped
 * directly, with a seeded `Random`: deterministic, and fast whatever the delays add up to.
 *
 * Run directly (`node .bench-build/bench/contention.js`) it prints a table.
 *
 * @since 0.1.0
 */
import { Console, Duration, Effect, Option, Random } from "effect"
import { pathToFileURL } from "node:url"
import * as Backoff from "../src/resilience/Backoff.js"
import { step } from "../src/resilience/internal/retrySchedule.js"

/** @since 0.1.0 */
export interface ContentionOptions {
  /** Clients racing for the resource. Default 100. */
  readonly clients?: number | undefined
  /** Virtual time one call takes, read to write. Default 10. */
  readonly callMillis?: number | undefined
  /** Backoff base. Default 10 millis (one call). */
  readonly base?: Duration.DurationInput | undefined
  /** Backoff cap. Default 10 seconds. */
  readonly cap?: Duration.DurationInput | undefined
  /** Seed of the `Random` behind the jitter in the first run; run `i` uses `seed + i`. Default 1. */
  readonly seed?: number | undefined
  /** Runs averaged per jitter kind (one run's completion time hangs on its unluckiest client). Default 10. */
  readonly runs?: number | undefined
}

/** @since 0.1.0 */
export interface ContentionResult {
  readonly jitter: Backoff.Jitter
  /** Calls made by all clients together, the winning ones included (mean over the runs). */
  readonly calls: number
  /** Virtual time until the last client's write landed (mean over the runs). */
  readonly completionMillis: number
}

interface Client {
  /** When the client's next event happens. */
  at: number
  /** `call`: it is about to read and start a call; `commit`: its write is about to land. */
  phase: "call" | "commit"
  readVersion: number
  schedule: unknown
  done: boolean
}

/**
 * The experiment for every jitter kind, as an Effect.
 *
 * @since 0.1.0
 */
export const contention = (options: ContentionOptions = {}): Effect.Effect<ReadonlyArray<ContentionResult>> =>
  Effect.forEach(Backoff.jitters, (jitter) =>
    Effect.map(
      Effect.forEach(
        Array.from({ length: options.runs ?? 10 }, (_, run) => (options.seed ?? 1) + run),
        (seed) => simulate(jitter, options).pipe(Effect.withRandom(Random.make(seed)))
      ),
      (runs) => ({
        jitter,
        calls: mean(runs.map((run) => run.calls)),
        completionMillis: mean(runs.map((run) => run.completionMillis))
      })
    ))

const mean = (values: ReadonlyArray<number>): number => values.reduce((sum, value) => sum + value, 0) / values.length

/**
 * The experiment for every jitter kind.
 *
 * @since 0.1.0
 */
export const runContention = (options?: ContentionOptions): Promise<ReadonlyArray<ContentionResult>> =>
  Effect.runPromise(contention(options))

const simulate = (jitter: Backoff.Jitter, options: ContentionOptions): Effect.Effect<ContentionResult> =>
  Effect.gen(function*() {
    const callMillis = options.callMillis ?? 10
    const backoff = Backoff.exponential({ base: options.base ?? callMillis, cap: options.cap ?? "10 seconds", jitter })
    const clients: Array<Client> = Array.from({ length: options.clients ?? 100 }, () => ({
      at: 0,
      phase: "call",
      readVersion: 0,
      schedule: backoff.initial,
      done: false
    }))
    let version = 0
    let calls = 0
    let completionMillis = 0
    for (let client = nextClient(clients); client !== undefined; client = nextClient(clients)) {
      if (client.phase === "call") {
        calls++
        client.readVersion = version
        client.phase = "commit"
        client.at += callMillis
      } else if (client.readVersion === version) {
        version++
        client.done = true
        completionMillis = Math.max(completionMillis, client.at)
      } else {
        // Backoff schedules never stop, so a step is always Some.
        const next = Option.getOrThrow(yield* step(backoff, client.at, undefined, client.schedule))
        client.schedule = next.state
        client.phase = "call"
        client.at += next.delayMillis
      }
    }
    return { jitter, calls, completionMillis }
  })

/** The client whose event comes first; at the same instant writes land before new reads. */
const nextClient = (clients: ReadonlyArray<Client>): Client | undefined => {
  let first: Client | undefined
  for (const client of clients) {
    if (client.done) continue
    if (
      first === undefined || client.at < first.at ||
      (client.at === first.at && client.phase === "commit" && first.phase === "call")
    ) {
      first = client
    }
  }
  return first
}

/**
 * The results as a Markdown table.
 *
 * @since 0.1.0
 */
export const formatTable = (results: ReadonlyArray<ContentionResult>, clients = 100): string =>
  [
    "| jitter | calls | calls per client | completion (virtual time) |",
    "|---|---:|---:|---:|",
    ...results.map((result) =>
      `| ${result.jitter} | ${Math.round(result.calls)} | ${(result.calls / clients).toFixed(1)} | ${
        (result.completionMillis / 1000).toFixed(1)
      } s |`
    )
  ].join("\n")

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(
    Effect.flatMap(contention(), (results) =>
      Console.log(
        `Backoff contention: 100 clients, 10 ms calls, base 10 ms, cap 10 s, mean of 10 runs\n\n${formatTable(results)}`
      ))
  )
}
