/**
 * The clients the benchmark compares, each with its defaults, behind one interface: make
 * chat call number `index` and say whether a usable answer came back. Each lives in its own
 * module under `clients/`, loaded only by the process that runs it, so that a process's
 * memory holds one client library.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import * as EffectHttp from "./clients/effectHttp.js"

/** @since 0.1.0 */
export type ClientName =
  | "effect-grok"
  | "effect-grok+quota"
  | "openai"
  | "ai-sdk"
  | "p-retry+bottleneck"
  | "article-loop"
  | "effect-retryTransient"
  | "raw-httpclient"
  | "checked-httpclient"
  | "effect-grok/ai"
  | "ai-openai"
  | "ai-openai+shape-fix"
  | "ai-openai+shape-fix+plan"

/** The clients compared in every scenario. @since 0.1.0 */
export const peers: ReadonlyArray<ClientName> = [
  "effect-grok",
  "openai",
  "ai-sdk",
  "p-retry+bottleneck",
  "article-loop",
  "effect-retryTransient"
]

/**
 * effect-grok told the quota up front (`RateLimiterMemory.layer({ limits })`), as
 * `p-retry+bottleneck` is: run in the quota scenarios, next to the default that learns it.
 *
 * @since 0.1.0
 */
export const toldTheQuota: ClientName = "effect-grok+quota"

/**
 * The baselines of the overhead scenario: the raw `HttpClient` call, and the same with only
 * the checks a typed client makes on every call (the floor under such a client's overhead).
 *
 * @since 0.1.0
 */
export const overheadBaselines: ReadonlyArray<ClientName> = ["checked-httpclient", "raw-httpclient"]

/**
 * The @effect/ai providers, compared through `LanguageModel.generateText` in the
 * `effect-ai-quota` scenario: effect-grok's, and `@effect/ai-openai` pointed at the simulator
 * (as it is, with the response fields it requires added, and with those plus the retry recipe
 * of Effect's "Execution Planning" guide).
 *
 * @since 0.2.0
 */
export const effectAiProviders: ReadonlyArray<ClientName> = ["effect-grok/ai", "ai-openai", "ai-openai+shape-fix", "ai-openai+shape-fix+plan"]

/** Every client: the peers, effect-grok told the quota, the baselines, the @effect/ai providers. @since 0.1.0 */
export const clientNames: ReadonlyArray<ClientName> = [...peers, toldTheQuota, ...overheadBaselines, ...effectAiProviders]

/** @since 0.1.0 */
export const isClientName = (name: string): name is ClientName => clientNames.some((client) => client === name)

/** What became of one call: a usable answer, or a failure of some kind (an error tag or class). @since 0.1.0 */
export type CallOutcome = { readonly ok: true } | { readonly ok: false; readonly kind: string }

/** @since 0.1.0 */
export interface BenchClient {
  readonly call: (index: number) => Effect.Effect<CallOutcome>
}

/** @since 0.1.0 */
export interface ClientOptions {
  /** The simulator's base URL, with `/v1`. */
  readonly url: string
  readonly apiKey: string
  /** The quota, when the scenario has one: `p-retry+bottleneck` and `effect-grok+quota` are configured with it. */
  readonly quotaPerSecond?: number | undefined
}

/**
 * The raw `HttpClient` call: the overhead baseline, loaded by every process (it is part of
 * the harness).
 *
 * @since 0.1.0
 */
export const raw: (options: ClientOptions) => Effect.Effect<BenchClient, never, Scope.Scope> = EffectHttp.raw

/**
 * Load and build a client in the current scope.
 *
 * @since 0.1.0
 */
export const make = (name: ClientName, options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> => {
  switch (name) {
    case "effect-grok":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectGrok.js")), (m) => m.make(options))
    case "effect-grok+quota":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectGrok.js")), (m) => m.makeToldTheQuota(options))
    case "openai":
      return Effect.flatMap(Effect.promise(() => import("./clients/openai.js")), (m) => m.make(options))
    case "ai-sdk":
      return Effect.flatMap(Effect.promise(() => import("./clients/aiSdk.js")), (m) => m.make(options))
    case "p-retry+bottleneck":
      return Effect.flatMap(Effect.promise(() => import("./clients/pRetryBottleneck.js")), (m) => m.make(options))
    case "article-loop":
      return Effect.flatMap(Effect.promise(() => import("./clients/articleLoop.js")), (m) => m.make(options))
    case "effect-retryTransient":
      return EffectHttp.retryTransient(options)
    case "raw-httpclient":
      return EffectHttp.raw(options)
    case "checked-httpclient":
      return EffectHttp.checked(options)
    case "effect-grok/ai":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectAiGrok.js")), (m) => m.make(options))
    case "ai-openai":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectAiOpenAi.js")), (m) => m.make(options, { shapeFix: false, plan: false }))
    case "ai-openai+shape-fix":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectAiOpenAi.js")), (m) => m.make(options, { shapeFix: true, plan: false }))
    case "ai-openai+shape-fix+plan":
      return Effect.flatMap(Effect.promise(() => import("./clients/effectAiOpenAi.js")), (m) => m.make(options, { shapeFix: true, plan: true }))
  }
}
