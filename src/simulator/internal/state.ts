/**
 * The simulator's mutable state: the fault plan in force, quota overrides and ledgers,
 * per-model request counters, the time origin and the request log. Every read-modify-write
 * happens in one synchronous step, so concurrent requests never see half an update.
 *
 * @internal
 */
import { Either } from "effect"
import type * as FaultPlan from "../FaultPlan.js"
import * as Quota from "../Quota.js"
import type { HeaderMode, RetryAfterMode } from "../Simulator.js"
import type { Headers } from "./quotaHeaders.js"
import { rateLimitHeaders, retryAfterHeaders } from "./quotaHeaders.js"
import * as Reply from "./reply.js"
import * as RequestLog from "./requestLog.js"
import * as XaiErrors from "./xaiErrors.js"

export interface QuotaSettings {
  readonly headers: HeaderMode
  readonly retryAfter: RetryAfterMode
  readonly quota: Quota.Quota | undefined
  readonly modelQuotas: ReadonlyMap<string, Quota.Quota>
}

export const make = (options: {
  readonly faults: FaultPlan.FaultPlan
  readonly quotas: QuotaSettings
  readonly startedAt: number
  readonly logLimit: number
}) => {
  let faults = options.faults
  let startedAt = options.startedAt
  const overrides = new Map<string, Quota.Quota | undefined>()
  const ledgers = new Map<string, Quota.QuotaState>()
  const modelCounts = new Map<string, number>()
  const log = RequestLog.make(options.logLimit)
  const { headers: headerMode, retryAfter: retryAfterMode } = options.quotas

  const quotaFor = (model: string): Quota.Quota | undefined =>
    overrides.has(model) ? overrides.get(model) : options.quotas.modelQuotas.get(model) ?? options.quotas.quota

  return {
    log,
    faults: () => faults,
    setFaults: (plan: FaultPlan.FaultPlan) => {
      faults = plan
    },
    setQuota: (model: string, quota: Quota.Quota | undefined) => {
      overrides.set(model, quota)
      ledgers.delete(model)
    },
    elapsedMillis: (nowMillis: number) => nowMillis - startedAt,
    /** Numbers the request among all requests and among its model's. */
    reserve: (model: string | undefined) => {
      const index = log.reserve()
      if (model === undefined) return { index, modelIndex: undefined }
      const modelIndex = (modelCounts.get(model) ?? 0) + 1
      modelCounts.set(model, modelIndex)
      return { index, modelIndex }
    },
    /** Charges the model's quota: the rate-limit headers to send, or the 429 to answer. */
    admit: (model: string, tokens: number, nowMillis: number): Either.Either<Headers, Reply.Reply> => {
      const quota = quotaFor(model)
      if (quota === undefined || Quota.isUnlimited(quota)) return Either.right({})
      const decision = Quota.admit(quota, ledgers.get(model) ?? Quota.initialState(quota, nowMillis), nowMillis, tokens)
      if (decision._tag === "Admitted") {
        ledgers.set(model, decision.state)
        return Either.right(rateLimitHeaders(headerMode, decision.status))
      }
      return Either.left(
        Reply.json(429, XaiErrors.rateLimited(model, decision.limit, decision.actual, decision.allowed), {
          ...rateLimitHeaders(headerMode, decision.status),
          ...retryAfterHeaders(retryAfterMode, decision.retryAfterMillis, nowMillis)
        })
      )
    },
    reset: (nowMillis: number) => {
      faults = options.faults
      startedAt = nowMillis
      overrides.clear()
      ledgers.clear()
      modelCounts.clear()
      log.clear()
    }
  }
}

export type State = ReturnType<typeof make>
