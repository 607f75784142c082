/**
 * What the demo runs: a simulator with a realistic quota and a mix of the faults xAI
 * really produces, and a workload of mixed priorities sized to the quota.
 *
 * @internal
 */
import * as GrokConfig from "../../GrokConfig.js"
import type * as FaultPlan from "../../simulator/FaultPlan.js"
import type * as Quota from "../../simulator/Quota.js"
import type * as RateLimiter from "../../resilience/RateLimiter.js"

export interface ScenarioOptions {
  readonly requests: number
  /** The quota, in requests per second. */
  readonly requestsPerSecond: number
}

export interface Scenario {
  readonly quota: Quota.Quota
  readonly faults: FaultPlan.FaultPlan
  /** The model every call asks for. */
  readonly model: string
  /** Where background calls go when `model` keeps failing: work that can take a smaller model. */
  readonly fallbackModel: string
  /** When `model` browns out, in millis since the simulator started. */
  readonly brownout: { readonly fromMillis: number; readonly untilMillis: number }
  /** Seconds the run would take at exactly the quota, one attempt per request. */
  readonly idealSeconds: number
  /** One line per fault, for the header and the report. */
  readonly faultLines: ReadonlyArray<string>
}

/** 10% critical, 30% background, the rest normal, interleaved so every priority waits in the same queue. */
export const priorityOf = (index: number): RateLimiter.Priority => {
  const slot = index % 10
  return slot === 0 ? "critical" : slot <= 3 ? "background" : "normal"
}

/** Background work can be answered by a smaller model when the main one fails: its fallback chain. */
export const fallbacksOf = (scenario: Scenario) => (index: number): ReadonlyArray<string> =>
  priorityOf(index) === "background" ? [scenario.fallbackModel] : []

/**
 * The quota allows little burst (a quarter of a second's worth), so a client that sends in
 * waves is refused; the brownout and the "at capacity" 429 are placed relative to the ideal
 * run time, so that they land mid-run whatever the size.
 */
export const make = (options: ScenarioOptions): Scenario => {
  const idealSeconds = options.requests / options.requestsPerSecond
  const brownoutAt = Math.round(idealSeconds * 550)
  const brownoutMillis = 1500
  const capacityAt = Math.max(1, Math.round(options.requests * 0.3))
  const model = GrokConfig.defaultModel
  const fallbackModel = "grok-3-mini"
  const faults: FaultPlan.FaultPlan = [
    {
      nth: [capacityAt],
      fault: { kind: "status", status: 429, headers: { "retry-after": "2" } }
    },
    {
      model,
      afterMillis: brownoutAt,
      untilMillis: brownoutAt + brownoutMillis,
      probability: 0.6,
      fault: { kind: "status", status: 503 }
    },
    { probability: 0.03, fault: { kind: "status", status: 503 } },
    { probability: 0.01, fault: { kind: "reset" } },
    { probability: 0.01, fault: { kind: "errorInOk" } },
    { probability: 0.03, fault: { kind: "latency", millis: 1200 } }
  ]
  return {
    quota: {
      requestsPerSecond: options.requestsPerSecond,
      burst: Math.max(1, Math.round(options.requestsPerSecond / 4)),
      tokensPerMinute: Math.round(options.requestsPerSecond * 60 * 400)
    },
    faults,
    model,
    fallbackModel,
    brownout: { fromMillis: brownoutAt, untilMillis: brownoutAt + brownoutMillis },
    idealSeconds,
    faultLines: [
      `request #${capacityAt} gets an "at capacity" 429 asking for 2 s`,
      `${model} browns out at ${(brownoutAt / 1000).toFixed(1)} s: 60% of its requests get 503 for ${brownoutMillis / 1000} s`,
      "throughout: 3% 503, 1% connection reset, 1% error inside a 200, 3% answers 1.2 s late"
    ]
  }
}
