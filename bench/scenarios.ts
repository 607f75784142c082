/**
 * The benchmark's scenarios: the simulator each client faces and the load it must carry.
 * Shared by the parent (which runs the simulator) and the child processes (which run one
 * client each), so both read the same numbers.
 *
 * @since 0.1.0
 */
import type * as Simulator from "../src/simulator/Simulator.js"
import type { ClientName } from "./clients.js"

/** @since 0.1.0 */
export type ScenarioName =
  | "quota-headers"
  | "quota-no-headers"
  | "outage"
  | "stays-down"
  | "mixed-faults"
  | "overhead"
  | "effect-ai-quota"

/**
 * How the load arrives.
 *
 * - `closed`: `requests` calls, `concurrency` at a time (a batch job).
 * - `open`: one call every `1 / perSecond` seconds whatever happens to the others (user traffic).
 * - `overhead`: calls one after another on a healthy server, each paired with a raw
 *   `HttpClient` call in the same process, so that the difference is the client's own cost.
 *
 * @since 0.1.0
 */
export type Workload =
  | { readonly _tag: "closed"; readonly requests: number; readonly concurrency: number }
  | { readonly _tag: "open"; readonly requests: number; readonly perSecond: number }
  | { readonly _tag: "overhead"; readonly warmup: number; readonly calls: number }

/** @since 0.1.0 */
export interface Scenario {
  readonly name: ScenarioName
  readonly title: string
  readonly simulator: Simulator.SimulatorOptions
  readonly workload: Workload
  /** The request rate the quota allows, when there is one: the ideal time is `requests / quotaPerSecond`. */
  readonly quotaPerSecond?: number | undefined
  /** When the server is down, in milliseconds from the start of the run. */
  readonly outage?: { readonly fromMillis: number; readonly untilMillis: number } | undefined
  /** The clients compared, when not the usual peers. */
  readonly clients?: ReadonlyArray<ClientName> | undefined
  /** The client the others are measured against (ratios, "where a peer wins"). Default `effect-grok`. */
  readonly reference?: ClientName | undefined
}

/** 20 requests per second with room for two back to back: a client that sends in waves is refused. */
const quota = { requestsPerSecond: 20, burst: 2 }

const quotaLoad: Workload = { _tag: "closed", requests: 200, concurrency: 50 }

const outage = { fromMillis: 2_000, untilMillis: 22_000 }

/** @since 0.1.0 */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "quota-headers",
    title: "Quota with headers: 20 requests/s (burst 2), rate-limit headers and Retry-After; 200 requests, 50 at a time",
    simulator: { quota, headers: "openai", retryAfter: "seconds" },
    workload: quotaLoad,
    quotaPerSecond: quota.requestsPerSecond
  },
  {
    name: "quota-no-headers",
    title: "Quota without headers: the same quota, but no rate-limit headers and no Retry-After on a 429",
    simulator: { quota, headers: "none", retryAfter: "none" },
    workload: quotaLoad,
    quotaPerSecond: quota.requestsPerSecond
  },
  {
    name: "outage",
    title: "Outage: every request gets 503 from 2 s to 22 s, then healthy; 4 requests/s arriving for 25 s",
    simulator: {
      faults: [{ afterMillis: outage.fromMillis, untilMillis: outage.untilMillis, fault: { kind: "status", status: 503 } }]
    },
    workload: { _tag: "open", requests: 100, perSecond: 4 },
    outage
  },
  {
    name: "stays-down",
    title: "Stays down: every request gets 503 for the whole run; 500 requests, 50 at a time (how long until every caller has its answer)",
    simulator: { faults: [{ fault: { kind: "status", status: 503 } }] },
    workload: { _tag: "closed", requests: 500, concurrency: 50 }
  },
  {
    name: "mixed-faults",
    title:
      "Mixed faults, no quota: 5% 503, 3% connection reset, 2% error inside a 200, 3% 429 with Retry-After 1 s, 5% 1 s late; 200 requests, 20 at a time",
    simulator: {
      faults: [
        { probability: 0.05, fault: { kind: "status", status: 503 } },
        { probability: 0.03, fault: { kind: "reset" } },
        { probability: 0.02, fault: { kind: "errorInOk" } },
        { probability: 0.03, fault: { kind: "status", status: 429, headers: { "retry-after": "1" } } },
        { probability: 0.05, fault: { kind: "latency", millis: 1_000 } }
      ]
    },
    workload: { _tag: "closed", requests: 200, concurrency: 20 }
  },
  {
    name: "effect-ai-quota",
    title:
      "@effect/ai's LanguageModel.generateText under the quota-headers quota (20 requests/s, burst 2, headers and Retry-After); 200 requests, 50 at a time, through the Responses API",
    simulator: { quota, headers: "openai", retryAfter: "seconds" },
    workload: quotaLoad,
    quotaPerSecond: quota.requestsPerSecond,
    clients: ["effect-grok/ai", "ai-openai", "ai-openai+shape-fix", "ai-openai+shape-fix+plan"],
    reference: "effect-grok/ai"
  },
  {
    name: "overhead",
    title: "Per-call overhead: a healthy server, one call at a time, against a raw HttpClient call in the same process",
    simulator: {},
    workload: { _tag: "overhead", warmup: 200, calls: 1000 }
  }
]

/** @since 0.1.0 */
export const scenarioNames: ReadonlyArray<ScenarioName> = scenarios.map((scenario) => scenario.name)

/** @since 0.1.0 */
export const findScenario = (name: string): Scenario | undefined => scenarios.find((scenario) => scenario.name === name)

/** The model every client asks for. @since 0.1.0 */
export const model = "grok-4"

/** The prompt of call `index`. @since 0.1.0 */
export const promptOf = (index: number): string =>
  `Request ${index + 1}: reply with one short sentence about resilient systems.`
