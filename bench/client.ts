#!/usr/bin/env node
/**
 * One client of the benchmark in its own process, so that its peak memory is its own
 * (printed by the preloaded `peakRss.js`):
 *
 * ```sh
 * node .bench-build/bench/client.js --client openai --scenario quota-headers --url http://127.0.0.1:PORT/v1
 * ```
 *
 * The child builds its client and prints `ready`; the parent (`main.ts`, which runs the
 * simulator) resets the simulator, so that the quota and the fault plan's clock start now,
 * and writes `go`; the child carries the scenario's load and prints one JSON line, a
 * `ChildResult` (`protocol.ts`).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Logger, LogLevel } from "effect"
import { createInterface } from "node:readline"
import * as Clients from "./clients.js"
import * as Load from "./load.js"
import { benchApiKey, type ChildResult, goLine, readyLine } from "./protocol.js"
import { findScenario } from "./scenarios.js"

const argument = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? undefined : process.argv[at + 1]
}

/** Completes when the parent writes `go` on stdin. */
const waitForGo = Effect.async<void>((resume) => {
  const lines = createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    if (line.trim() !== goLine) return
    lines.close()
    resume(Effect.void)
  })
})

const main = Effect.gen(function*() {
  const name = argument("client") ?? ""
  const scenario = findScenario(argument("scenario") ?? "")
  const url = argument("url")
  if (!Clients.isClientName(name) || scenario === undefined || url === undefined) {
    return yield* Effect.dieMessage(
      `usage: node .bench-build/bench/client.js --client ${Clients.clientNames.join("|")} --scenario NAME --url http://127.0.0.1:PORT/v1`
    )
  }
  const options = { url, apiKey: benchApiKey, quotaPerSecond: scenario.quotaPerSecond }
  const client = yield* Clients.make(name, options)
  const raw = yield* Clients.raw(options)
  process.stdout.write(`${readyLine}\n`)
  yield* waitForGo
  const start = yield* Clock.currentTimeNanos
  const load = yield* Load.run(scenario.workload, client, raw)
  const seconds = Number((yield* Clock.currentTimeNanos) - start) / 1e9
  const result: ChildResult = {
    client: name,
    scenario: scenario.name,
    ...load,
    seconds: Math.round(seconds * 1000) / 1000
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
})

// Retries are logged at Info: keep stderr for what went wrong.
Effect.runPromise(Effect.scoped(main).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
