/**
 * The circuit breaker on the Grok pipeline: one breaker per endpoint and model, around each
 * attempt (inside the retry loop, outside the rate limiter), fed with what GrokErrors say
 * about xAI's health.
 *
 * @internal
 */
import { Duration, type Effect } from "effect"
import * as GrokError from "../GrokError.js"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"

/** `chat:grok-4`: the endpoint and the model, never the API key. */
export const keyOf = (spec: { readonly operation: string; readonly model: string }): string =>
  `${spec.operation}:${spec.model}`

/**
 * Failures are what an unhealthy model does: 5xx, timeouts, broken connections, an error
 * inside a 200, "at capacity". A 4xx the caller caused, a rate limit on requests or tokens
 * (the limiter's business) or an exhausted quota prove the server is answering. A call the
 * limiter refused never reached it.
 */
export const classify = (error: GrokError.GrokError): CircuitBreaker.Verdict => {
  switch (error._tag) {
    case "ServerError":
    case "Timeout":
    case "FirstTokenTimeout":
    case "TransportError":
      return "failure"
    case "ErrorInBody":
      return error.retryable ? "failure" : "success"
    case "RateLimited":
      return error.limit === "capacity" ? "failure" : "success"
    case "QueueRejected":
    case "CircuitOpen":
      return "ignore"
    default:
      return "success"
  }
}

const probeIn = (rejection: CircuitBreaker.Rejection): string =>
  rejection.retryAfter === undefined ? "a probe is under way" : `next probe in ${Duration.format(rejection.retryAfter)}`

const circuitOpen = (rejection: CircuitBreaker.Rejection): GrokError.CircuitOpen =>
  new GrokError.CircuitOpen({
    message: rejection.waitLimitReached
      ? `circuit breaker open for ${rejection.key} for ${Duration.format(rejection.openFor)}: the model looks down, ` +
        `so calls no longer wait for it (${probeIn(rejection)}; a call after a successful probe goes through)`
      : rejection.state === "open"
      ? `circuit breaker open for ${rejection.key}: recent calls failed too often (probing again in ${
        rejection.retryAfter === undefined ? "a moment" : Duration.format(rejection.retryAfter)
      })`
      : `circuit breaker half-open for ${rejection.key}: waiting for its probe calls`,
    status: null,
    // Past the wait limit, retrying within this call would only stretch the caller's wait.
    retryable: !rejection.waitLimitReached,
    retryAfter: rejection.retryAfter,
    key: rejection.key,
    openFor: rejection.openFor
  })

/**
 * One attempt under the breaker of its endpoint and model. While the breaker is open the
 * attempt waits for it (or fails with `CircuitOpen` in `fail` mode), at most until `waitUntil`;
 * the wait is not an attempt and uses none of the call's retries. A probe that fails while
 * calls wait runs `attempt` again after the next wait: `attempt` must give back what it holds
 * (its limiter permit) when it fails.
 */
export const guarded = <A, R>(
  breaker: CircuitBreaker.Service,
  spec: { readonly operation: string; readonly model: string },
  attempt: Effect.Effect<A, GrokError.GrokError, R>,
  waitUntil?: { readonly at: number; readonly onExpired: () => GrokError.GrokError }
): Effect.Effect<A, GrokError.GrokError, R> =>
  breaker.guard(keyOf(spec), attempt, { classify, onOpen: circuitOpen, waitUntil })
