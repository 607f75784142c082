/**
 * The `chat` command, run in process through `run(args)` against the simulator over real
 * loopback sockets, on the TestClock: exit codes, the exact `--json` contract (one JSON
 * object on stdout, nothing else), human output, streaming, and the failures the issues
 * describe. Output is captured through `CliOutput` and `Console`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Console, ConfigProvider, Effect, Fiber, type Scope } from "effect"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-cli-test-key-0123456789"
const PROMPT = ["Say", "hi"]
/** The simulator's deterministic answer to {@link PROMPT} (words joined by a space). */
const REPLY = "Simulated reply to \"Say hi\"."

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const text = (args: ReadonlyArray<unknown>) => `${args.map((arg) => (typeof arg === "string" ? arg : String(arg))).join(" ")}\n`

/** A Console writing into `out`: @effect/cli and the logger print through it. */
const capturingConsole = (base: Console.Console, out: { stdout: string; stderr: string }): Console.Console => {
  const toStdout = (...args: ReadonlyArray<unknown>) => {
    out.stdout += text(args)
  }
  const toStderr = (...args: ReadonlyArray<unknown>) => {
    out.stderr += text(args)
  }
  return {
    ...base,
    log: (...args) => Effect.sync(() => toStdout(...args)),
    info: (...args) => Effect.sync(() => toStdout(...args)),
    error: (...args) => Effect.sync(() => toStderr(...args)),
    warn: (...args) => Effect.sync(() => toStderr(...args)),
    debug: (...args) => Effect.sync(() => toStderr(...args)),
    unsafe: { ...base.unsafe, log: toStdout, info: toStdout, error: toStderr, warn: toStderr, debug: toStderr, trace: toStderr }
  }
}

/**
 * `effect-grok <args>` with `env` as the environment; what a user would see. `out` fills as
 * the command writes, for a test that watches the output while it runs.
 */
const cli = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = { XAI_API_KEY: KEY },
  out: { stdout: string; stderr: string } = { stdout: "", stderr: "" }
): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const base = yield* Console.consoleWith(Effect.succeed)
    const code = yield* run(args).pipe(
      Effect.provideService(CliOutput, {
        stdout: (chunk: string) => {
          out.stdout += chunk
        },
        stderr: (chunk: string) => {
          out.stderr += chunk
        },
        isTTY: false
      }),
      Console.withConsole(capturingConsole(base, out)),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
    return { code, ...out }
  })

/** Run the CLI against `sim`, driving loopback I/O and the TestClock. */
const chatWith = (sim: Simulator.Service, flags: ReadonlyArray<string>, env?: Record<string, string>) =>
  Effect.flatMap(Effect.fork(cli(["chat", "--base-url", sim.url, ...flags, ...PROMPT], env)), (fiber) =>
    drive(fiber, simulatorActivity(sim)))

/**
 * Run the CLI where nothing should be sent (usage errors). The base URL defaults to a closed
 * loopback port, so that a regression can never reach the real API.
 */
const offline = (args: ReadonlyArray<string>, env: Record<string, string> = { XAI_API_KEY: KEY }) =>
  Effect.flatMap(Effect.fork(cli(args, { XAI_BASE_URL: "http://127.0.0.1:9/v1", ...env })), (fiber) => drive(fiber))

const simulator = (faults: FaultPlan.FaultPlan = []): Effect.Effect<Simulator.Service, never, Scope.Scope> =>
  Effect.orDie(Simulator.make({ faults }))

/** The one JSON object stdout must hold, checked to be alone there. */
const onlyJson = (captured: Captured): Record<string, unknown> => {
  const lines = captured.stdout.split("\n")
  expect(lines).toHaveLength(2)
  expect(lines[1]).toBe("")
  const parsed: unknown = JSON.parse(lines[0] ?? "")
  expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)).toBe(true)
  return parsed as Record<string, unknown>
}

interface SuccessJson {
  readonly ok: true
  readonly model: string
  readonly content: string
  readonly usage: { readonly total_tokens: number; readonly prompt_tokens: number; readonly completion_tokens: number }
  readonly attempts: number
}

interface FailureJson {
  readonly ok: false
  readonly error: {
    readonly _tag: string
    readonly status: number | null
    readonly retryable: boolean
    readonly message: string
    readonly requestId: string | null
  }
  readonly attempts: number
}

const success = (captured: Captured): SuccessJson => {
  const json = onlyJson(captured)
  expect(Object.keys(json)).toEqual(["ok", "model", "content", "usage", "attempts"])
  expect(json["ok"]).toBe(true)
  return json as unknown as SuccessJson
}

const failed = (captured: Captured): FailureJson => {
  const json = onlyJson(captured)
  expect(Object.keys(json)).toEqual(["ok", "error", "attempts"])
  expect(json["ok"]).toBe(false)
  const error = json["error"]
  expect(typeof error === "object" && error !== null ? Object.keys(error) : []).toEqual(["_tag", "status", "retryable", "message", "requestId"])
  return json as unknown as FailureJson
}

/** Expected failures print a message, never a stack trace. */
const noStackTrace = (captured: Captured) => {
  expect(captured.stderr).not.toMatch(/^\s+at /m)
  expect(captured.stdout).not.toMatch(/^\s+at /m)
}

/** A successful `--json` run, checked against the simulator's log. */
const expectAnswered = (sim: Simulator.Service, captured: Captured, attempts: number) =>
  Effect.gen(function*() {
    expect(captured.code).toBe(0)
    const json = success(captured)
    expect(json.model).toBe("grok-4.3")
    expect(json.content).toBe(REPLY)
    expect(json.attempts).toBe(attempts)
    const log = yield* sim.log
    expect(log).toHaveLength(attempts)
    expect(json.usage.total_tokens).toBe(log.at(-1)?.usage?.totalTokens)
    expect(json.usage.prompt_tokens).toBe(log.at(-1)?.usage?.promptTokens)
    noStackTrace(captured)
    return log
  })

describe("chat --json: success after transient failures", () => {
  it.scoped("a plain call: one attempt, the exact success object", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const captured = yield* chatWith(sim, ["--json"])
      yield* expectAnswered(sim, captured, 1)
      expect(captured.stderr).toBe("")
    }))

  it.scoped("429 with Retry-After, then success: waits at least what the server asked", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "4" } } }])
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--json"]), 2)
      expect(log.map((entry) => entry.status)).toEqual([429, 200])
      expect(log[1]!.startedAt - log[0]!.startedAt).toBeGreaterThanOrEqual(4000)
    }))

  it.scoped("503, 502, 500, then success: attempts 4", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([
        { nth: [1], fault: { kind: "status", status: 503 } },
        { nth: [2], fault: { kind: "status", status: 502 } },
        { nth: [3], fault: { kind: "status", status: 500 } }
      ])
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--json"]), 4)
      expect(log.map((entry) => entry.status)).toEqual([503, 502, 500, 200])
    }))

  it.scoped("a connection reset, then success", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "reset" } }])
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--json"]), 2)
      expect(log[0]!.outcome).toBe("aborted")
    }))

  it.scoped("a first attempt slower than --timeout, then success", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "latency", millis: 120_000 } }])
      const started = yield* Clock.currentTimeMillis
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--json", "--timeout", "3s"]), 2)
      expect(log[0]!.outcome).toBe("client-closed")
      expect(log[1]!.startedAt).toBeGreaterThanOrEqual(started + 3000)
      expect((yield* Clock.currentTimeMillis) - started).toBeLessThan(10_000)
    }))

  it.scoped("a 200 with an error body, then success", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "errorInOk" } }])
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--json"]), 2)
      expect(log.map((entry) => entry.status)).toEqual([200, 200])
    }))

  it.scoped("--stream --json: a stream failing before its first token, then success", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 503 } }])
      const log = yield* expectAnswered(sim, yield* chatWith(sim, ["--stream", "--json"]), 2)
      expect(log.every((entry) => entry.stream)).toBe(true)
    }))
})

describe("chat --json: failures", () => {
  it.scoped("a stream dropped mid-way: StreamBroken, not retried, exit 1", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "dropStream", afterChunks: 2 } }])
      const captured = yield* chatWith(sim, ["--stream", "--json"])
      expect(captured.code).toBe(1)
      const json = failed(captured)
      expect(json.error).toMatchObject({ _tag: "StreamBroken", retryable: false })
      expect(json.attempts).toBe(1)
      expect(yield* sim.requestCount).toBe(1)
      noStackTrace(captured)
    }))

  it.scoped("Retry-After: 3600 fails within seconds, status 429, with the request id, exit 1", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } }])
      const started = yield* Clock.currentTimeMillis
      const captured = yield* chatWith(sim, ["--json"])
      expect((yield* Clock.currentTimeMillis) - started).toBeLessThan(5000)
      expect(captured.code).toBe(1)
      const json = failed(captured)
      const log = yield* sim.log
      expect(json.error).toMatchObject({ _tag: "RateLimited", status: 429, retryable: true, requestId: log[0]!.requestId })
      expect(json.error.message).toContain("retry after 1h")
      expect(json.attempts).toBe(1)
      noStackTrace(captured)
    }))

  it.scoped("--max-retries 0 on a 503: one attempt, exit 1", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "status", status: 503 } }])
      const captured = yield* chatWith(sim, ["--json", "--max-retries", "0"])
      expect(captured.code).toBe(1)
      const json = failed(captured)
      const log = yield* sim.log
      expect(json).toEqual({
        ok: false,
        error: { _tag: "ServerError", status: 503, retryable: true, message: json.error.message, requestId: log[0]!.requestId },
        attempts: 1
      })
      expect(json.error.message).toContain("HTTP 503")
      expect(log).toHaveLength(1)
      noStackTrace(captured)
    }))

  it.scoped("the API key never reaches stdout or stderr", () =>
    Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ apiKeys: ["xai-another-key-000000000"] }))
      const captured = yield* chatWith(sim, ["--json"])
      expect(captured.code).toBe(1)
      expect(failed(captured).error).toMatchObject({ _tag: "AuthenticationFailed", status: 400, retryable: false })
      expect(captured.stdout + captured.stderr).not.toContain(KEY)
    }))
})

describe("chat: bad usage or configuration exits 2 before anything is sent", () => {
  it.effect("missing XAI_API_KEY: a clear message; with --json a JSON error", () =>
    Effect.gen(function*() {
      const human = yield* offline(["chat", ...PROMPT], {})
      expect(human.code).toBe(2)
      expect(human.stdout).toBe("")
      expect(human.stderr).toContain("XAI_API_KEY is not set")
      noStackTrace(human)

      const json = yield* offline(["chat", "--json", ...PROMPT], {})
      expect(json.code).toBe(2)
      const parsed = failed(json)
      expect(parsed).toEqual({
        ok: false,
        error: { _tag: "UsageError", status: null, retryable: false, message: parsed.error.message, requestId: null },
        attempts: 0
      })
      expect(parsed.error.message).toContain("XAI_API_KEY")
    }))

  it.effect("--base-url http://example.com: plain http is refused for a remote host", () =>
    Effect.gen(function*() {
      const captured = yield* offline(["chat", "--base-url", "http://example.com/v1", ...PROMPT])
      expect(captured.code).toBe(2)
      expect(captured.stdout).toBe("")
      expect(captured.stderr).toContain("plain http:// is refused for example.com")
      noStackTrace(captured)
    }))

  it.effect("a bad --timeout", () =>
    Effect.gen(function*() {
      for (const timeout of ["soon", "0", "-5s"]) {
        const captured = yield* offline(["chat", "--timeout", timeout, ...PROMPT])
        expect(captured.code).toBe(2)
        expect(captured.stdout).toBe("")
        expect(captured.stderr).toContain("--timeout")
        noStackTrace(captured)
      }
    }))

  it.scoped("an unknown flag, a misspelt one, or an option without its value is refused, not sent as the prompt", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      for (const flags of [["--bogus"], ["--jsn"], ["-x"]]) {
        const captured = yield* chatWith(sim, flags)
        expect(captured.code).toBe(2)
        expect(captured.stdout).toBe("")
        expect(captured.stderr).toContain(flags[0])
        noStackTrace(captured)
      }
      const dangling = yield* offline(["chat", "--base-url", sim.url, ...PROMPT, "--timeout"])
      expect(dangling.code).toBe(2)
      expect(dangling.stderr).toContain("--timeout")
      const asJson = yield* chatWith(sim, ["--json", "--bogus"])
      expect(asJson.code).toBe(2)
      expect(failed(asJson).error).toMatchObject({ _tag: "UsageError", status: null })
      expect(yield* sim.log).toEqual([])
      // A prompt quoted whole, or one starting with a number, is text.
      const quoted = yield* offline(["chat", "--base-url", sim.url, "--json", "--not a flag", "-5 degrees"])
      expect(quoted.code).toBe(0)
      expect(success(quoted).content).toBe("Simulated reply to \"--not a flag -5 degrees\".")
    }))

  it.effect("a negative --max-retries", () =>
    Effect.gen(function*() {
      const captured = yield* offline(["chat", "--max-retries", "-1", ...PROMPT])
      expect(captured.code).toBe(2)
      expect(captured.stderr).toContain("--max-retries")
    }))
})

describe("chat: human output", () => {
  it.scoped("prints the answer on stdout and a summary on stderr", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 503 } }])
      const captured = yield* chatWith(sim, [])
      expect(captured.code).toBe(0)
      expect(captured.stdout).toBe(`${REPLY}\n`)
      const usage = (yield* sim.log)[1]!.usage!
      expect(captured.stderr).toBe(`— grok-4.3 · ${usage.totalTokens} tokens · 2 attempts\n`)
    }))

  it.scoped("--stream prints the tokens as they arrive", () =>
    Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ faults: [{ fault: { kind: "slowStream", firstTokenMillis: 100, chunkMillis: 1000 } }] }))
      const out = { stdout: "", stderr: "" }
      const fiber = yield* Effect.fork(cli(["chat", "--base-url", sim.url, "--stream", ...PROMPT], undefined, out))
      // Tokens appear while the stream is still going: after the first chunk, stdout holds
      // the first word and the answer is not complete yet.
      const seen: Array<string> = []
      yield* drive(
        fiber,
        Effect.map(simulatorActivity(sim), (activity) => {
          if (seen.at(-1) !== out.stdout) seen.push(out.stdout)
          return `${activity}:${out.stdout.length}`
        })
      )
      expect((yield* Fiber.join(fiber)).code).toBe(0)
      expect(seen).toContain("Simulated")
      expect(seen).toContain("Simulated reply")
      expect(out.stdout).toBe(`${REPLY}\n`)
      expect(out.stderr).toMatch(/^— grok-4.3 · \d+ tokens · 1 attempt\n$/)
    }))

  it.scoped("a failure prints the error and the request id on stderr, nothing on stdout", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "status", status: 503 } }])
      const captured = yield* chatWith(sim, ["--max-retries", "1"])
      expect(captured.code).toBe(1)
      expect(captured.stdout).toBe("")
      const log = yield* sim.log
      expect(captured.stderr).toContain("ServerError (HTTP 503)")
      expect(captured.stderr).toContain(`(request id ${log[1]!.requestId})`)
      expect(captured.stderr).toContain("2 attempts")
      noStackTrace(captured)
    }))
})
