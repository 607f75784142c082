#!/usr/bin/env node
/**
 * The `effect-grok` executable.
 *
 * @internal
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { run } from "./main.js"

NodeRuntime.runMain(
  Effect.map(run(process.argv.slice(2)), (code) => {
    process.exitCode = code
  }),
  { disableErrorReporting: true, disablePrettyLogger: true }
)
