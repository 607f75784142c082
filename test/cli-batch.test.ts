/**
 * The `batch` command, run in process through `run(args)` against the simulator over real
 * loopback sockets, on the TestClock: the output lines (one per custom_id, exactly once),
 * the exact `--json` summary, exit codes 0 / 1 / 2, malformed input named by line number with
 * nothing sent, an output file completed (and a line cut by a crash repaired) when run again,
 * and the live counters on a terminal and in a pipe.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, type Scope } from "effect"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-cli-batch-key-0123456789"

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const silentConsole = (base: Console.Console, out: { stdout: string; stderr: string }): Console.Console => ({
  ...base,
  log: (...args) => Effect.sync(() => void (out.stdout += `${args.join(" ")}\n`)),
  error: (...args) => Effect.sync(() => void (out.stderr += `${args.join(" ")}\n`)),
  unsafe: { ...base.unsafe, log: (...args) => void (out.stdout += `${args.join(" ")}\n`), error: (...args) => void (out.stderr += `${args.join(" ")}\n`) }
})

/** `effect-grok batch <args>` as a user would see it, driven against `sim` (or offline). */
const batch = (
  args: ReadonlyArray<string>,
  options: { readonly sim?: Simulator.Service; readonly isTTY?: boolean; readonly env?: Record<string, string> } = {}
): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const base = yield* Console.consoleWith(Effect.succeed)
    const env = options.env ?? { XAI_API_KEY: KEY }
    const program = run(["batch", ...(options.sim === undefined ? ["--base-url", "http://127.0.0.1:9/v1"] : ["--base-url", options.sim.url]), ...args]).pipe(
      Effect.provideService(CliOutput, {
        stdout: (text: string) => void (out.stdout += text),
        stderr: (text: string) => void (out.stderr += text),
        isTTY: options.isTTY ?? false
      }),
      Console.withConsole(silentConsole(base, out)),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
    const fiber = yield* Effect.fork(program)
    const code = yield* drive(fiber, options.sim === undefined ? Effect.succeed("") : simulatorActivity(options.sim))
    return { code, ...out }
  })

/** A temporary directory for the test's files, removed after it. */
const workdir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "effect-grok-batch-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const line = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { messages: [{ role: "user", content: `Say ${id}` }] }, ...extra })

const inputOf = (n: number) => Array.from({ length: n }, (_, i) => line(`line-${i + 1}`)).join("\n") + "\n"

const write = (path: string, text: string) => Effect.promise(() => writeFile(path, text))

const outputLines = (path: string) =>
  Effect.map(Effect.promise(() => readFile(path, "utf8")), (text) =>
    text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>))

const simulator = (options: Simulator.SimulatorOptions = {}) => Effect.orDie(Simulator.make({ seed: 5, ...options }))

const onlyJson = (captured: Captured): Record<string, unknown> => {
  const lines = captured.stdout.split("\n").filter((l) => l !== "")
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

describe("effect-grok batch", () => {
  it.scoped("runs the file: one output line per custom_id, the exact --json summary, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const sim = yield* simulator({ batch: { processing: { min: "1 second", max: "30 seconds" }, failureRate: 0.2 } })
      const input = join(dir, "in.jsonl")
      const output = join(dir, "out.jsonl")
      yield* write(input, inputOf(30) + line("via-responses", { url: "/v1/responses", body: { input: "Say hi" } }) + "\n")
      const result = yield* batch(["--input", input, "--output", output, "--json"], { sim })
      expect(result.code).toBe(0)
      const summary = onlyJson(result)
      expect(Object.keys(summary)).toEqual(["batchId", "requests", "succeeded", "failed", "cancelled", "seconds"])
      const [server] = yield* sim.batches
      expect(summary).toMatchObject({ batchId: server!.batchId, requests: 31, cancelled: 0 })
      expect(Number(summary["succeeded"]) + Number(summary["failed"])).toBe(31)
      expect(Number(summary["failed"])).toBeGreaterThan(0)

      const lines = yield* outputLines(output)
      expect(lines.map((l) => l["custom_id"]).sort()).toEqual([...Array.from({ length: 30 }, (_, i) => `line-${i + 1}`), "via-responses"].sort())
      const success = lines.find((l) => l["error"] === null)!
      expect(Object.keys(success)).toEqual(["custom_id", "response", "error"])
      const response = success["response"] as { status_code: number; request_id: string; body: { id: string; object: string; model: string } }
      expect(response).toMatchObject({ status_code: 200, body: { object: "chat.completion", model: "grok-4.3" } })
      expect(response.request_id).toBe(response.body.id)
      const failure = lines.find((l) => l["error"] !== null)!
      expect(failure).toEqual({
        custom_id: failure["custom_id"],
        response: null,
        error: { code: "internal", message: "Internal error while processing the batch request. [WKE=internal]" }
      })
      expect(server).toMatchObject({ requests: 31, itemsSubmitted: 31 })
    }))

  it.scoped("malformed lines are named by their line numbers and nothing is sent: exit 2", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const sim = yield* simulator()
      const input = join(dir, "in.jsonl")
      yield* write(input, [
        line("ok-1"),
        "{not json",
        "",
        JSON.stringify({ method: "POST", url: "/v1/chat/completions", body: {} }),
        line("ok-1"),
        line("images", { url: "/v1/images/generations" }),
        line("get", { method: "GET" }),
        line("no-body", { body: "hello" })
      ].join("\n"))
      const result = yield* batch(["--input", input, "--output", join(dir, "out.jsonl")], { sim })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`${input} line 2: not valid JSON`)
      expect(result.stderr).toContain(`${input} line 4: custom_id must be a non-empty string`)
      expect(result.stderr).toContain(`${input} line 5: custom_id "ok-1" is also on line 1`)
      expect(result.stderr).toContain(`${input} line 6: url must be /v1/chat/completions or /v1/responses, got "/v1/images/generations"`)
      expect(result.stderr).toContain(`${input} line 7: method must be "POST", got "GET"`)
      expect(result.stderr).toContain(`${input} line 8: body must be a JSON object`)
      expect(result.stderr).not.toMatch(/^\s+at /m)

      // A body its endpoint's schema refuses, named by line and custom_id.
      yield* write(input, [line("a"), line("hot", { body: { messages: [{ role: "user", content: "x" }], temperature: 3 } })].join("\n"))
      const invalid = yield* batch(["--input", input, "--output", join(dir, "out.jsonl")], { sim })
      expect(invalid.code).toBe(2)
      expect(invalid.stderr).toMatch(new RegExp(`${input} line 2: custom_id "hot": temperature`))
      expect(yield* sim.requestCount).toBe(0)
    }))

  it.scoped("bad usage and configuration exit 2 before anything is sent", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const input = join(dir, "in.jsonl")
      yield* write(input, inputOf(2))
      const noKey = yield* batch(["--input", input, "--output", join(dir, "out.jsonl")], { env: {} })
      expect(noKey).toMatchObject({ code: 2 })
      expect(noKey.stderr).toMatch(/XAI_API_KEY is not set/)
      const noFile = yield* batch(["--input", join(dir, "missing.jsonl"), "--output", join(dir, "out.jsonl")])
      expect(noFile.code).toBe(2)
      expect(noFile.stderr).toMatch(/--input: cannot read/)
      yield* write(join(dir, "empty.jsonl"), "\n\n")
      expect((yield* batch(["--input", join(dir, "empty.jsonl"), "--output", join(dir, "out.jsonl")])).stderr).toMatch(/holds no requests/)
      expect((yield* batch(["--input", input])).code).toBe(2)
    }))

  it.scoped("run again: a line cut by a crash is dropped, the output completed, each custom_id once; complete output sends nothing", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const sim = yield* simulator({ batch: { processing: { min: "1 second", max: "5 seconds" } } })
      const input = join(dir, "in.jsonl")
      const output = join(dir, "out.jsonl")
      yield* write(input, inputOf(10))
      const first = yield* batch(["--input", input, "--output", output, "--json"], { sim })
      expect(first.code).toBe(0)
      const lines = (yield* Effect.promise(() => readFile(output, "utf8"))).split("\n").filter((l) => l !== "")
      // Keep 4 lines, and half of a fifth, as a crash mid-write would.
      yield* write(output, lines.slice(0, 4).join("\n") + "\n" + lines[4]!.slice(0, 40))
      const second = yield* batch(["--input", input, "--output", output, "--json"], { sim })
      expect(second.code).toBe(0)
      expect(onlyJson(second)).toMatchObject({ batchId: onlyJson(first)["batchId"], requests: 10, succeeded: 10 })
      const ids = (yield* outputLines(output)).map((l) => l["custom_id"])
      expect(ids).toHaveLength(10)
      expect(new Set(ids).size).toBe(10)
      expect(yield* sim.batches).toMatchObject([{ requests: 10, itemsSubmitted: 10 }])

      const sent = yield* sim.requestCount
      const third = yield* batch(["--input", input, "--output", output, "--json"], { sim })
      expect(onlyJson(third)).toMatchObject({ batchId: null, requests: 10, succeeded: 10, failed: 0, cancelled: 0 })
      expect(yield* sim.requestCount).toBe(sent)
    }))

  it.scoped("an output file that belongs to another job is refused (exit 2), not overwritten", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const input = join(dir, "in.jsonl")
      const output = join(dir, "out.jsonl")
      yield* write(input, inputOf(2))
      const foreign = JSON.stringify({ custom_id: "someone-else", response: null, error: { code: "x", message: "y" } }) + "\n"
      yield* write(output, foreign)
      const result = yield* batch(["--input", input, "--output", output])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`${output} line 1: custom_id "someone-else" is not in the input`)
      expect(yield* Effect.promise(() => readFile(output, "utf8"))).toBe(foreign)
    }))

  it.scoped("a job the server refuses cannot complete: exit 1, the reason on stderr, the summary on stdout", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const sim = yield* simulator()
      const input = join(dir, "in.jsonl")
      yield* write(input, [line("a"), line("old", { body: { model: "grok-3-mini", messages: [{ role: "user", content: "x" }] } })].join("\n"))
      const result = yield* batch(["--input", input, "--output", join(dir, "out.jsonl"), "--json"], { sim })
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/BatchAddRejected \(HTTP 400\): .*because of request old: .*Model grok-3-mini is not supported for batch processing/)
      expect(onlyJson(result)).toMatchObject({ requests: 2, succeeded: 0, failed: 0, cancelled: 0 })
    }))

  it.scoped("live counters: redrawn in place on a terminal, plain lines in a pipe, and a summary", () =>
    Effect.gen(function*() {
      const dir = yield* workdir
      const sim = yield* simulator({ batch: { processing: { min: "1 second", max: "20 seconds" } } })
      const input = join(dir, "in.jsonl")
      yield* write(input, inputOf(20))
      const tty = yield* batch(["--input", input, "--output", join(dir, "tty.jsonl"), "--name", "tty"], { sim, isTTY: true })
      expect(tty.code).toBe(0)
      expect(tty.stderr).toContain("\u001b[?25l")
      expect(tty.stderr).toMatch(/\u001b\[4F/)
      expect(tty.stderr).toContain("output   20/20 lines")
      expect(tty.stderr).toContain("\u001b[?25h")
      expect(tty.stdout).toBe("")

      const pipe = yield* batch(["--input", input, "--output", join(dir, "pipe.jsonl"), "--name", "pipe"], { sim })
      expect(pipe.code).toBe(0)
      expect(pipe.stderr).not.toContain("\u001b[")
      expect(pipe.stderr).toMatch(/^\[ +\d+\.\d s\] batch_[0-9a-f-]+: added 20\/20 · pending \d+ · succeeded \d+ · failed 0 · cancelled 0 · written \d+\/20$/m)
      expect(pipe.stderr).toMatch(/^requests  20   succeeded 20   failed 0   cancelled 0   missing 0$/m)
      expect(pipe.stderr).toMatch(/^adds      20 requests in 1 add call \(0 answered 429 and waited out\)$/m)
      expect((yield* sim.batches).map((b) => b.name)).toEqual(["tty", "pipe"])
    }))
})
