/**
 * The {@link AdmissionStore} on Redis: each operation is one round trip running one Lua script
 * (`EVALSHA`, falling back to `EVAL` once per connection when the server does not know the
 * script yet). All decisions are taken on the Redis server's clock.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { Duration, Effect } from "effect"
import type { Redis } from "ioredis"
import { absorbScript, adjustTokensScript, admitScript, type LuaScript, startCooldownScript } from "./admit.lua.js"
import { type AbsorbingStore, type Admission, type Limits, type Spent, StoreUnavailable } from "./admissionStore.js"

/** What the store needs of a client: both `Redis` and `Cluster` from ioredis qualify. */
export type ScriptClient = Pick<Redis, "evalsha" | "eval">

export interface RedisStoreOptions {
  readonly client: ScriptClient
  /** Prefix of every key, e.g. `effect-grok:rl`. */
  readonly prefix: string
  /** No command may take longer: a dead or hung Redis answers `StoreUnavailable` instead. */
  readonly commandTimeout: Duration.Duration
}

/** The Redis keys of one limit key. They share one hash tag, hence one Cluster slot. */
export interface LimitKeys {
  readonly request: string
  readonly tokens: string
  readonly cooldown: string
}

/**
 * Limit keys made of these characters, short enough, and not looking like an API key are used
 * as they are (readable in `redis-cli`); any other key is replaced by its SHA-256. In particular
 * `{` and `}` never reach a key name, where they would break the hash tag.
 */
const readableKey = /^[A-Za-z0-9._:/@=+-]{1,128}$/
const looksLikeSecret = /xai-[A-Za-z0-9]{16,}/

const safeKeyPart = (key: string): string =>
  readableKey.test(key) && !looksLikeSecret.test(key)
    ? key
    : `#${createHash("sha256").update(key).digest("hex")}`

/** @internal */
export const keysFor = (prefix: string, key: string): LimitKeys => {
  const base = `${prefix}:{${safeKeyPart(key)}}`
  return { request: `${base}:req`, tokens: `${base}:tok`, cooldown: `${base}:cool` }
}

/** The limits as the scripts read them: microsecond intervals and rates, 0 meaning "no limit". */
interface ScriptLimits {
  readonly intervalMicros: number
  readonly burst: number
  readonly tokensPerMicro: number
  readonly tokenCapacity: number
}

const isRate = (n: number): boolean => n > 0 && !Number.isNaN(n)

const toScriptLimits = (limits: Limits): Effect.Effect<ScriptLimits> =>
  isRate(limits.requestsPerSecond) && isRate(limits.tokensPerMinute) && Number.isFinite(limits.requestBurst)
    ? Effect.succeed({
      intervalMicros: limits.requestsPerSecond === Infinity ? 0 : 1_000_000 / limits.requestsPerSecond,
      // Fractional bursts are fine: `burst - 1` intervals is how early a call may go.
      burst: Math.max(1, limits.requestBurst),
      tokensPerMicro: limits.tokensPerMinute === Infinity ? 0 : limits.tokensPerMinute / 60_000_000,
      tokenCapacity: limits.tokensPerMinute === Infinity ? 0 : limits.tokensPerMinute
    })
    : Effect.dieMessage(`Invalid limits for the Redis admission store: ${JSON.stringify(limits)}`)

const finite = (n: number, what: string): Effect.Effect<number> =>
  Number.isFinite(n) ? Effect.succeed(n) : Effect.dieMessage(`Invalid ${what} for the Redis admission store: ${n}`)

const positive = (n: number): number => (n > 0 ? n : 0)

const describe = (cause: unknown): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  // ioredis's words for "refused at once: not connected" (its offline queue is disabled).
  return message.startsWith("Stream isn't writeable") ? "not connected" : message
}

const isNoScript = (cause: unknown): boolean => cause instanceof Error && cause.message.startsWith("NOSCRIPT")

const evaluate = async (
  client: ScriptClient,
  script: LuaScript,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>
): Promise<unknown> => {
  try {
    return await client.evalsha(script.sha1, script.numberOfKeys, ...keys, ...args)
  } catch (cause) {
    if (!isNoScript(cause)) throw cause
    return await client.eval(script.lua, script.numberOfKeys, ...keys, ...args)
  }
}

/**
 * A command's reply, or a failure once `millis` have passed without one.
 *
 * A timer that fires late says the event loop was busy (garbage collection, a burst of work in
 * a loaded process), and a reply that arrived meanwhile waits in the socket: Node runs due
 * timers before it reads sockets. So the verdict waits for that read (`setImmediate` runs right
 * after it); without this a busy process takes its own lateness for Redis's, and in `"fail"`
 * mode refuses every queued call of the key for it.
 *
 * The timer is a real one, deliberately: Redis answers in real time whatever clock the program
 * runs on (a `TestClock` included), and on this hot path a timer costs a fraction of racing a
 * fiber with `Effect.timeout` (which doubled the latency of a decision). The wait cannot be
 * interrupted, but it always ends within `millis`: the engine, which calls the store from
 * uninterruptible bookkeeping, never hangs on a dead connection, and a decision is never
 * abandoned half-counted.
 */
const withinTimeout = <A>(
  call: () => Promise<A>,
  millis: number,
  onTimeout: () => StoreUnavailable,
  onError: (cause: unknown) => StoreUnavailable
): Effect.Effect<A, StoreUnavailable> =>
  Effect.uninterruptible(Effect.async<A, StoreUnavailable>((resume) => {
    let settled = false
    const settle = (result: Effect.Effect<A, StoreUnavailable>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(result)
    }
    const timer = setTimeout(() => setImmediate(() => settle(Effect.fail(onTimeout()))), millis)
    call().then((reply) => settle(Effect.succeed(reply)), (cause: unknown) => settle(Effect.fail(onError(cause))))
  }))

/** @internal */
export const make = (options: RedisStoreOptions): AbsorbingStore => {
  const { client, commandTimeout, prefix } = options
  const timeoutMillis = Duration.toMillis(commandTimeout)
  const timeoutText = Duration.format(commandTimeout)

  const run = (script: LuaScript, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) =>
    withinTimeout(
      () => evaluate(client, script, keys, args),
      timeoutMillis,
      () => new StoreUnavailable({ message: `Redis did not answer ${script.name} within ${timeoutText}`, timedOut: true }),
      (cause) => new StoreUnavailable({ message: `Redis ${script.name} failed: ${describe(cause)}`, cause })
    )

  const tryAdmit = (key: string, tokens: number, limits: Limits): Effect.Effect<Admission, StoreUnavailable> =>
    Effect.gen(function*() {
      const l = yield* toScriptLimits(limits)
      // Without a token limit the estimate plays no part (and may be anything, even Infinity).
      const cost = l.tokensPerMicro === 0 ? 0 : Math.max(0, yield* finite(tokens, "token estimate"))
      const k = keysFor(prefix, key)
      const reply = yield* run(admitScript, [k.request, k.tokens, k.cooldown], [
        l.intervalMicros,
        l.burst,
        l.tokensPerMicro,
        l.tokenCapacity,
        cost
      ])
      if (reply === 0) return { _tag: "Admitted" } as const
      if (typeof reply === "number" && reply > 0) return { _tag: "Wait", retryInMillis: reply } as const
      return yield* new StoreUnavailable({ message: `Redis admit answered ${String(reply)}, expected a number` })
    })

  const adjustTokens = (key: string, delta: number, limits: Limits): Effect.Effect<void, StoreUnavailable> =>
    Effect.gen(function*() {
      const l = yield* toScriptLimits(limits)
      const amount = yield* finite(delta, "token adjustment")
      if (amount === 0 || l.tokensPerMicro === 0) return
      yield* run(adjustTokensScript, [keysFor(prefix, key).tokens], [l.tokensPerMicro, l.tokenCapacity, amount])
    })

  const startCooldown = (key: string, millis: number): Effect.Effect<void, StoreUnavailable> => {
    const whole = Math.ceil(millis)
    return whole > 0 && Number.isFinite(whole)
      ? Effect.asVoid(run(startCooldownScript, [keysFor(prefix, key).cooldown], [whole]))
      : Effect.void
  }

  const absorb = (key: string, spent: Spent, limits: Limits): Effect.Effect<void, StoreUnavailable> =>
    Effect.gen(function*() {
      const l = yield* toScriptLimits(limits)
      const calls = l.intervalMicros === 0 ? 0 : positive(yield* finite(spent.requests, "count of calls spent"))
      const tokens = l.tokensPerMicro === 0 ? 0 : positive(yield* finite(spent.tokens, "count of tokens spent"))
      const cooldown = Math.ceil(positive(yield* finite(spent.cooldownMillis, "cooldown")))
      if (calls === 0 && tokens === 0 && cooldown === 0) return
      const k = keysFor(prefix, key)
      yield* run(absorbScript, [k.request, k.tokens, k.cooldown], [
        l.intervalMicros,
        l.tokensPerMicro,
        l.tokenCapacity,
        calls,
        tokens,
        cooldown
      ])
    })

  return { tryAdmit, adjustTokens, startCooldown, absorb }
}
