#!/usr/bin/env node
/**
 * The `effect-grok` executable.
 *
 * SIGINT and SIGTERM are the commands' to answer (`internal/signals.ts`): the first asks the
 * running command to stop, a second exits at once.
 *
 * The CLI imports `@effect/platform` and `@effect/platform-node` modules by their own paths
 * (`@effect/platform/FileSystem`), never through the packages' index: the `@effect/platform`
 * index also evaluates `HttpApiScalar` and `HttpApiSwagger` (5 MB of bundled web UI held as
 * strings), and the `@effect/platform-node` index every Node backend (cluster, RPC, SQL,
 * workers, WebSocket).
 *
 * @internal
 */
import { setFlagsFromString } from "node:v8"

/**
 * How far V8 lets the old generation grow past what the last full collection kept, in percent.
 * By default it allows up to 4x on a machine with a few GB of memory. A call in flight lives
 * across several young-generation collections, so most of what it allocates is promoted to
 * the old generation and dies there: `load` keeps 45 to 70 MB live but grew to 160 to 185 MB
 * of heap before its first full collection. At 1.5x its peak resident memory is 70 MB or more
 * lower, for the same CPU time.
 *
 * V8 reads the value at every full collection, so setting it at run time works (it is not
 * allowed in NODE_OPTIONS, and a shebang cannot pass flags portably), but only before the
 * modules load: the collections made while they load would otherwise set a 4x limit that
 * holds until the run's first full collection. Hence the dynamic imports below. A
 * `--heap-growing-percent` given to node explicitly wins.
 */
const heapGrowingPercent = 50

if (!process.execArgv.some((flag) => flag.startsWith("--heap-growing-percent"))) {
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`)
}

const { runMain } = await import("./internal/signals.js")
const { run } = await import("./main.js")

runMain(run(process.argv.slice(2)))
