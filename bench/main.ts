#!/usr/bin/env node
/**
 * `npm run bench [-- --json] [-- --only NAME,NAME] [-- --clients NAME,NAME]`
 *
 * Every client faces the same simulator (run here, in the parent) with the same load, each in
 * its own child process (`client.ts`) so that its peak memory is its own. Scenarios: a quota
 * with and without rate-limit headers, an outage, a model that stays down, mixed faults, per-call overhead. Then the
 * other benchmarks: backoff contention, the in-memory limiter (`limiter.ts`), the
 * Redis limiter and a fleet of 3 `load` processes sharing the quota through Redis, also with
 * Redis killed, restarted or paused mid-run (when `redis-server` is on the PATH).
 *
 * Without `--json` it prints a Markdown report (the tables of `docs/benchmarks.md`); with
 * it, one JSON line per (scenario, client) and one per other benchmark. Progress goes to stderr.
 *
 * @since 0.1.0
 */
import { Clock, Console, Deferred, Effect, Either, Option, Ref, Schema } from "effect"
import { availableParallelism, cpus, totalmem } from "node:os"
import { fileURLToPath } from "node:url"
import * as Simulator from "../src/simulator/Simulator.js"
import { describeFailure, lastJson, runNode } from "./child.js"
import { clientNames, isClientName, overheadBaselines, peers, toldTheQuota } from "./clients.js"
import { contention, formatTable as contentionTable } from "./contention.js"
import * as Fleet from "./fleet.js"
import { ChildResult, peakRssOf } from "./protocol.js"
import * as RedisServer from "./redisServer.js"
import * as Startup from "./startup.js"
import { benchLimiterRedis } from "./redisLimiter.js"
import { failedLine, type ResultLine, resultLine, scenarioTable, serverCounts } from "./results.js"
import { type Scenario, scenarios } from "./scenarios.js"

const outageNames = Fleet.redisEvents.map((event) => `fleet-redis-${event}`)

const extras = [
  "sharing",
  "import-cost",
  "cli-startup",
  "per-call",
  "overhead-pieces",
  "contention",
  "limiter-memory",
  "limiter-redis",
  "fleet",
  ...outageNames
] as const

const argument = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? undefined : process.argv[at + 1]
}

const json = process.argv.includes("--json")
const listArgument = (name: string) => argument(name)?.split(",").map((item) => item.trim())
const only = listArgument("only")
const selected = (name: string) => only === undefined || only.includes(name)
const onlyClients = listArgument("clients")

const clientScript = fileURLToPath(new URL("./client.js", import.meta.url))
const preload = new URL("./peakRss.js", import.meta.url).href
const childTimeout = "150 seconds"

const progress = (line: string) => Console.error(line)

const requestsOf = (scenario: Scenario) =>
  scenario.workload._tag === "overhead" ? scenario.workload.calls : scenario.workload.requests

/**
 * One client through one scenario, on a simulator of its own. `startTogether` is awaited once
 * the child is ready, so that clients run side by side start at the same moment, after every
 * one of them has booted.
 */
const runPair = (scenario: Scenario, client: string, startTogether: Effect.Effect<void>): Effect.Effect<ResultLine> =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* Simulator.make({ ...scenario.simulator, seed: 1 }).pipe(Effect.orDie)
    let startMillis = yield* Clock.currentTimeMillis
    const run = yield* runNode(
      ["--import", preload, clientScript, "--client", client, "--scenario", scenario.name, "--url", sim.url],
      {
        timeout: childTimeout,
        onReady: Effect.gen(function*() {
          yield* startTogether
          yield* sim.reset
          startMillis = yield* Clock.currentTimeMillis
        })
      }
    )
    const server = serverCounts(yield* sim.log, startMillis, scenario.outage)
    const peakRss = peakRssOf(run.stderr)
    const child = Schema.decodeUnknownEither(ChildResult)(lastJson(run))
    return Either.isRight(child)
      ? resultLine(scenario, child.right, server, peakRss)
      : failedLine(scenario, client, requestsOf(scenario), server, describeFailure(run, childTimeout), peakRss)
  }))

/** Completes for everyone once `count` callers have arrived. */
const startingLine = (count: number) =>
  Effect.map(Effect.all([Deferred.make<void>(), Ref.make(0)]), ([everyone, arrived]) =>
    Effect.gen(function*() {
      if ((yield* Ref.updateAndGet(arrived, (n) => n + 1)) >= count) yield* Deferred.succeed(everyone, undefined)
      yield* Deferred.await(everyone)
    }))

const runScenario = (scenario: Scenario) =>
  Effect.gen(function*() {
    yield* progress(`${scenario.name}: ${scenario.title}`)
    const clients = (scenario.clients ?? [
      ...peers,
      ...(scenario.quotaPerSecond === undefined ? [] : [toldTheQuota]),
      ...(scenario.workload._tag === "overhead" ? overheadBaselines : [])
    ]).filter((client) => onlyClients === undefined || onlyClients.includes(client))
    // The outage lasts 20 s whatever the client does: its clients run side by side, each on
    // its own simulator, and start together once all have booted. The others run one at a
    // time so that timings do not compete.
    const sideBySide = scenario.name === "outage"
    const barrier = yield* startingLine(sideBySide ? clients.length : 1)
    const lines = yield* Effect.forEach(
      clients,
      (client) =>
        runPair(scenario, client, barrier).pipe(
          Effect.tap((line) =>
            json
              ? Console.log(JSON.stringify(line))
              : progress(`  ${line.client}: ok ${line.ok}/${line.requests}, attempts ${line.attempts}, 429s ${line.status429}, ${line.seconds} s${line.error === undefined ? "" : ` (${line.error})`}`)
          )
        ),
      { concurrency: sideBySide ? "unbounded" : 1 }
    )
    return `### ${scenario.name}\n\n${scenario.title}.\n\n${scenarioTable(scenario, lines)}`
  })

const runContention = Effect.gen(function*() {
  yield* progress("contention: backoff contention (virtual time)")
  const results = yield* contention()
  if (json) yield* Console.log(JSON.stringify({ bench: "contention", results }))
  return `### Backoff contention\n\n100 clients, 10 ms calls, base 10 ms, cap 10 s, mean of 10 runs (see "Backoff contention" above).\n\n${contentionTable(results)}`
})

/**
 * A benchmark that runs in a process of its own: `exported` of `module` (a promise of a JSON
 * value), its result printed as a JSON block under `heading`.
 */
const runOwnProcess = (options: {
  readonly bench: string
  readonly what: string
  readonly module: string
  readonly exported: string
  readonly nodeFlags: ReadonlyArray<string>
  readonly heading: string
  readonly intro: string
  /** What `exported` is called with, if anything. */
  readonly argument?: string | undefined
}) =>
  Effect.scoped(Effect.gen(function*() {
    yield* progress(`${options.bench}: ${options.what}`)
    const moduleUrl = new URL(options.module, import.meta.url).href
    const argument = options.argument === undefined ? "" : JSON.stringify(options.argument)
    const script = `import { ${options.exported} } from ${JSON.stringify(moduleUrl)}\n` +
      `process.stdout.write(JSON.stringify(await ${options.exported}(${argument})) + "\\n")`
    const timeout = "120 seconds"
    const run = yield* runNode([...options.nodeFlags, "--input-type=module", "-e", script], { timeout })
    const result = lastJson(run) ?? { error: describeFailure(run, timeout) }
    if (json) yield* Console.log(JSON.stringify({ bench: options.bench, result }))
    return `### ${options.heading}\n\n${options.intro}\n\n\`\`\`json\n${JSON.stringify(result, null, 2)}\n\`\`\`\n`
  }))

/**
 * The in-memory limiter's own benchmark (`limiter.ts`), started with `--expose-gc`, so that
 * its heap figures are measured after a full collection.
 */
const runLimiterMemory = runOwnProcess({
  bench: "limiter-memory",
  what: "the in-memory limiter (its own process, --expose-gc)",
  module: "./limiter.js",
  exported: "benchLimiterMemory",
  nodeFlags: ["--expose-gc"],
  heading: "In-memory limiter",
  intro: "`benchLimiterMemory()` (src/bench/limiter.ts), run with `--expose-gc`."
})

/** What `import "effect-grok"` costs next to effect + HttpClient alone, in fresh processes. */
const runImportCost = Effect.gen(function*() {
  const runs = 9
  yield* progress(`import-cost: import "effect-grok" beside effect + @effect/platform/HttpClient, ${runs} fresh processes each`)
  const measured = yield* Startup.measure(Startup.importCandidates(), runs, preload)
  if (json) yield* Console.log(JSON.stringify({ bench: "import-cost", result: measured }))
  return `### Import cost\n\nA fresh \`node\` importing each, ${runs} runs alternated (\`bench/startup.ts\`).\n\n${Startup.table(measured, "effect + @effect/platform/HttpClient")}`
})

/**
 * The CLI from a shell: `effect-grok chat --json` beside a one-call `openai` script, against
 * one simulator, and `--help`, in fresh processes.
 */
const runCliStartup = Effect.scoped(Effect.gen(function*() {
  const runs = 9
  const sim = yield* Simulator.make({ seed: 1 }).pipe(Effect.orDie)
  yield* progress(`cli-startup: effect-grok chat --json beside a one-call openai script, and --help, ${runs} fresh processes each`)
  const measured = yield* Startup.measure(Startup.cliCandidates(sim.url), runs, preload)
  if (json) yield* Console.log(JSON.stringify({ bench: "cli-startup", result: measured }))
  return `### CLI start-up\n\nA fresh process for each, ${runs} runs alternated, one simulator (\`bench/startup.ts\`).\n\n${
    Startup.table(measured, "openai SDK, one chat call (script)")
  }\n\n${Startup.cliVerdicts(measured).join("\n")}`
}))

/** One quota shared between two clients, wired four ways (`sharing.ts`), in its own process. */
const runSharing = runOwnProcess({
  bench: "sharing",
  what: "24 calls from two clients against 5 requests/s, four ways of wiring the limiter (its own process)",
  module: "./sharing.js",
  exported: "benchSharing",
  nodeFlags: [],
  heading: "Sharing one quota between clients",
  intro: "`benchSharing()` (bench/sharing.ts): 24 calls, 12 per client, at once, against 5 requests/s (burst 1); 429s counted by the simulator."
})

/** What a call costs counted in operations, fibers and allocation (`perCall.ts`): the timed overhead scenario's deterministic companion. */
const runPerCall = runOwnProcess({
  bench: "per-call",
  what: "Effect operations, fibers and allocation per call (in-memory HttpClient, its own process)",
  module: "./perCall.js",
  exported: "benchPerCall",
  nodeFlags: [],
  heading: "Per call, counted",
  intro: "`benchPerCall()` (src/bench/perCall.ts): one call at a time against an in-memory `HttpClient`."
})

/** What each piece of a call costs on the call path (`pieces.ts`), against a simulator of its own here. */
const runPieces = Effect.scoped(Effect.gen(function*() {
  const sim = yield* Simulator.make({ seed: 1 }).pipe(Effect.orDie)
  return yield* runOwnProcess({
    bench: "overhead-pieces",
    what: "what each piece of a call adds to a raw HttpClient call (its own process)",
    module: "./pieces.js",
    exported: "benchPieces",
    nodeFlags: [],
    heading: "Overhead, piece by piece",
    intro: "`benchPieces(url)` (src/bench/pieces.ts): µs a piece adds to a raw `HttpClient` call, measured in pairs as in the overhead scenario.",
    argument: sim.url
  })
}))

const runRedis = Effect.scoped(Effect.gen(function*() {
  const redis = yield* RedisServer.start
  if (Option.isNone(redis)) {
    const note = "skipped: redis-server is not on the PATH (or did not start)"
    yield* progress(`limiter-redis, fleet: ${note}`)
    if (json) yield* Console.log(JSON.stringify({ bench: "limiter-redis", skipped: note }))
    return [`### Redis limiter\n\n${note}.`]
  }
  const sections: Array<string> = []
  if (selected("limiter-redis")) {
    yield* progress(`limiter-redis: admission decisions against ${redis.value}`)
    const result = yield* Effect.tryPromise(() => benchLimiterRedis(redis.value)).pipe(
      Effect.map((bench) => ({ ...bench })),
      Effect.catchAll((error) => Effect.succeed({ error: String(error.error) }))
    )
    if (json) yield* Console.log(JSON.stringify({ bench: "limiter-redis", result }))
    sections.push(`### Redis limiter\n\nAdmission decisions through \`RateLimiterRedis\`'s store, one process.\n\n\`\`\`json\n${JSON.stringify(result, null, 2)}\n\`\`\``)
  }
  if (selected("fleet")) {
    const results = []
    for (const redisUrl of [redis.value, undefined]) {
      yield* progress(`fleet: 3 load processes x 100 requests, ${redisUrl === undefined ? "each with its own in-memory limiter" : "sharing the quota through Redis"}`)
      const result = yield* Fleet.run({ redisUrl, preload })
      if (json) {
        for (const line of result.processes) yield* Console.log(JSON.stringify(line))
        yield* Console.log(JSON.stringify({ scenario: `fleet-${result.limiter}`, client: "all 3 (server)", ...result.server }))
      }
      results.push(result)
    }
    sections.push(
      `### Fleet: 3 processes sharing one quota\n\n3 \`effect-grok load\` processes, 100 requests each, 20 at a time, started together against 20 requests/s (burst 2); ideal ${Fleet.idealSeconds} s.\n\n${Fleet.table(results)}`
    )
  }
  const outages = []
  for (const event of Fleet.redisEvents.filter((event) => selected(`fleet-redis-${event}`))) {
    yield* progress(`fleet-redis-${event}: 3 load processes x 100 requests through Redis, Redis ${event} after 60 answers`)
    // A server of its own: this one is killed, restarted or frozen.
    const result = yield* Effect.scoped(Effect.flatMap(RedisServer.startControlled, (controlled) =>
      Option.match(controlled, {
        onNone: () => Effect.succeed(undefined),
        onSome: (redis) => Fleet.runOutage({ redis, event, preload })
      })))
    if (result === undefined) continue
    if (json) {
      for (const line of result.processes) yield* Console.log(JSON.stringify(line))
      const { awayAtSeconds, backAtSeconds, server, verdict, wallSeconds } = result
      yield* Console.log(JSON.stringify({
        scenario: result.scenario,
        client: "all 3 (server)",
        ...server,
        wallSeconds,
        awayAtSeconds,
        backAtSeconds,
        verdict
      }))
    }
    outages.push(result)
  }
  if (outages.length > 0) {
    sections.push(
      `### Fleet: Redis lost mid-run\n\nThe same 3 processes as issue 18 ran them (\`load --requests 100 --concurrency 50 --rpm 1200 --redis URL\`, default \`--redis-unavailable 0.5\`), against 20 requests/s (burst 2); once 60 requests are answered Redis is killed for good, killed and restarted empty 3 s later, or paused (SIGSTOP) for 3 s. The bar: all 300 served, every process exits 0, 429s at most 25% of the requests, the server's time at most 1.5x the ideal (${Fleet.idealSeconds} s) plus 3 s.\n\n${
        Fleet.outageTable(outages)
      }`
    )
  }
  return sections
}))

const machine = () => {
  const cpu = cpus()[0]?.model ?? "unknown CPU"
  return `${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform} ${process.arch}`
}

const main = Effect.gen(function*() {
  const started = yield* Clock.currentTimeMillis
  const sections: Array<string> = []
  for (const scenario of scenarios) if (selected(scenario.name)) sections.push(yield* runScenario(scenario))
  if (selected("import-cost")) sections.push(yield* runImportCost)
  if (selected("cli-startup")) sections.push(yield* runCliStartup)
  if (selected("sharing")) sections.push(yield* runSharing)
  if (selected("per-call")) sections.push(yield* runPerCall)
  if (selected("overhead-pieces")) sections.push(yield* runPieces)
  if (selected("contention")) sections.push(yield* runContention)
  if (selected("limiter-memory")) sections.push(yield* runLimiterMemory)
  if (selected("limiter-redis") || selected("fleet") || outageNames.some(selected)) sections.push(...(yield* runRedis))
  const minutes = ((yield* Clock.currentTimeMillis) - started) / 60_000
  yield* progress(`done in ${minutes.toFixed(1)} minutes`)
  if (!json) {
    yield* Console.log(`Machine: ${machine()}. Command: \`npm run bench\`, ${minutes.toFixed(1)} minutes.\n\n${sections.join("\n\n")}`)
  }
})

const known: ReadonlyArray<string> = [...scenarios.map((scenario) => scenario.name), ...extras]
const unknownNames = (only ?? []).filter((name) => !known.includes(name))
const unknownClients = (onlyClients ?? []).filter((name) => !isClientName(name))
if (unknownNames.length > 0 || unknownClients.length > 0) {
  process.stderr.write(
    `unknown names: ${[...unknownNames, ...unknownClients].join(", ")}\n--only: ${known.join(", ")}\n--clients: ${clientNames.join(", ")}\n`
  )
  process.exitCode = 2
} else {
  Effect.runPromise(main).catch((error: unknown) => {
    process.stderr.write(`bench failed: ${String(error)}\n`)
    process.exitCode = 1
  })
}
