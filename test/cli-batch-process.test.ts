/**
 * The built CLI (`node dist/cli/bin.js batch`) as a user runs it: a real child process over
 * real loopback sockets, against a simulator this test starts on 127.0.0.1. The simulator runs
 * on the TestClock, so the test decides when the batch's requests finish; the child polls on
 * its own (real) clock. Killed mid-run with SIGINT, SIGTERM and SIGKILL, then run again, the
 * command completes the output with each custom_id exactly once, on one batch to which
 * nothing was added twice. Every wait is on an event (the child's output, its exit, the
 * simulator's log), never a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Stream, TestClock } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Simulator from "../src/simulator/Simulator.js"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "dist", "cli", "bin.js")


let dir = ""

beforeAll(() => {
  // The test runs what is shipped: dist/, rebuilt by the global setup when src/ changed.
  dir = mkdtempSync(join(tmpdir(), "effect-grok-batch-process-"))
}, 180_000)

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

interface Child {
  readonly process: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the first stderr line that satisfies `test`; fails if the child exits first. */
  readonly line: (test: (line: string) => boolean) => Effect.Effect<string>
  /** The exit code, or the signal that ended the child. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const cli = (args: ReadonlyArray<string>): Child => {
  const child = spawn(process.execPath, [bin, "batch", ...args], {
    env: { PATH: process.env["PATH"] ?? "", XAI_API_KEY: "xai-process-test-key-0123456789" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) =>
    child.once("exit", (code, signal) => resolvePromise({ code, signal }))
  )
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    line: (test) =>
      Effect.promise(() =>
        new Promise<string>((resolvePromise, reject) => {
          const check = () => {
            const found = stderr.split("\n").find(test)
            if (found === undefined) return false
            child.stderr!.off("data", check)
            resolvePromise(found)
            return true
          }
          if (check()) return
          child.stderr!.on("data", check)
          void exit.then(() => {
            if (!check()) reject(new Error(`the CLI exited before the expected line; stderr:\n${stderr}\nstdout:\n${stdout}`))
          })
        })
      ),
    exited: Effect.promise(() => exit)
  }
}

/** `written N/40` in a progress line. */
const writtenIn = (line: string): number => Number(/written (\d+)\//.exec(line)?.[1] ?? -1)

const outputIds = (path: string): ReadonlyArray<string> =>
  readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)

const REQUESTS = 40

describe("effect-grok batch, as a process", () => {
  it.scoped("killed mid-run (SIGINT, SIGTERM, a crash) and run again: the output completed, each custom_id once, one batch", () =>
    Effect.gen(function*() {
      // The child reads the batch's dates (its expiry) against its own clock: start the simulator's at now.
      yield* TestClock.setTime(Date.now())
      const sim = yield* Effect.orDie(Simulator.make({ seed: 21, batch: { processing: { min: "10 seconds", max: "100 seconds" } } }))
      // Every request the simulator has answered, as it ends.
      const ended = yield* sim.subscribe
      const input = join(dir, "in.jsonl")
      const output = join(dir, "out.jsonl")
      writeFileSync(input, Array.from({ length: REQUESTS }, (_, i) =>
        JSON.stringify({ custom_id: `q-${i}`, method: "POST", url: "/v1/chat/completions", body: { messages: [{ role: "user", content: `Question ${i}` }] } })).join("\n") + "\n")
      const args = ["--input", input, "--output", output, "--base-url", sim.url, "--name", "process-test"]

      // Run 1: wait until it has added everything and read the (empty) results, let a third finish, then SIGINT.
      const first = cli([...args, "--json"])
      yield* Stream.runDrain(Stream.takeUntil(ended, (entry) => entry.path.endsWith("/results")))
      yield* TestClock.adjust("40 seconds")
      yield* first.line((line) => writtenIn(line) > 0)
      first.process.kill("SIGINT")
      expect(yield* first.exited).toEqual({ code: 130, signal: null })
      const partial = JSON.parse(first.stdout()) as Record<string, unknown>
      expect(Object.keys(partial)).toEqual(["batchId", "requests", "succeeded", "failed", "cancelled", "seconds", "interrupted"])
      expect(partial).toMatchObject({ requests: REQUESTS, interrupted: true })
      const afterFirst = outputIds(output)
      expect(afterFirst.length).toBeGreaterThan(0)
      expect(afterFirst.length).toBeLessThan(REQUESTS)
      expect(Number(partial["succeeded"])).toBe(afterFirst.length)

      // Run 2: it resumes; a few more finish; SIGTERM.
      const second = cli(args)
      yield* second.line((line) => line.includes(String(partial["batchId"])))
      yield* TestClock.adjust("30 seconds")
      yield* second.line((line) => writtenIn(line) > afterFirst.length)
      second.process.kill("SIGTERM")
      expect(yield* second.exited).toEqual({ code: 143, signal: null })
      expect(second.stderr()).toMatch(/^interrupted: \d+\/40 results written; the batch goes on at xAI/m)
      const afterSecond = outputIds(output)
      expect(afterSecond.length).toBeGreaterThan(afterFirst.length)

      // Run 3: a crash (SIGKILL) after more results, and a line left half written.
      const third = cli(args)
      yield* TestClock.adjust("20 seconds")
      yield* third.line((line) => writtenIn(line) > afterSecond.length)
      third.process.kill("SIGKILL")
      expect(yield* third.exited).toEqual({ code: null, signal: "SIGKILL" })
      appendFileSync(output, "{\"custom_id\":\"q-1\",\"response\":{\"status_co")

      // Run 4: everything has finished at xAI; the same command completes the output.
      yield* TestClock.adjust("1 minute")
      const fourth = cli([...args, "--json"])
      expect(yield* fourth.exited).toEqual({ code: 0, signal: null })
      const summary = JSON.parse(fourth.stdout()) as Record<string, unknown>
      expect(summary).toMatchObject({ batchId: partial["batchId"], requests: REQUESTS, succeeded: REQUESTS, failed: 0, cancelled: 0 })
      const ids = outputIds(output)
      expect([...ids].sort()).toEqual(Array.from({ length: REQUESTS }, (_, i) => `q-${i}`).sort())
      expect(yield* sim.batches).toEqual([{ batchId: partial["batchId"], name: "process-test", requests: REQUESTS, itemsSubmitted: REQUESTS, cancelled: false }])
      expect((yield* sim.log).some((entry) => entry.path.endsWith(":cancel"))).toBe(false)
    }), 120_000)
})
