/**
 * Deferred chat completions, as xAI serves them: a request with `"deferred": true` is
 * answered at once with `{"request_id"}`; `GET /v1/chat/deferred-completion/{id}` then
 * answers 202 with an empty body until the job is done (a fixed virtual delay after the
 * submit, on Effect's `Clock`), 200 with the completion once, and 404 afterwards or for an
 * id it never issued.
 *
 * The completion (and the quota charge) is computed when the request is submitted; the log
 * carries its usage on the submit, not on the poll that fetches it.
 *
 * @internal
 */
import { Duration, Effect, Either, Option } from "effect"
import type { Usage } from "../Simulator.js"
import { uuid } from "./ids.js"
import type { Headers } from "./quotaHeaders.js"
import * as Reply from "./reply.js"
import type { Route, RouteContext } from "./routes.js"

/** How long a job takes when the simulator's options do not say. */
export const DEFAULT_DELAY_MILLIS = 2_000

interface Job {
  readonly readyAt: number
  readonly completion: unknown
}

export const make = (delayMillis: number) => {
  const jobs = new Map<string, Job>()
  return {
    add: (id: string, nowMillis: number, completion: unknown) => {
      jobs.set(id, { readyAt: nowMillis + delayMillis, completion })
    },
    /** The job's state; a finished job is handed out once and forgotten. */
    take: (id: string, nowMillis: number): { readonly _tag: "Unknown" | "Pending" } | { readonly _tag: "Ready"; readonly completion: unknown } => {
      const job = jobs.get(id)
      if (job === undefined) return { _tag: "Unknown" }
      if (nowMillis < job.readyAt) return { _tag: "Pending" }
      jobs.delete(id)
      return { _tag: "Ready", completion: job.completion }
    },
    clear: () => jobs.clear()
  }
}

export type DeferredJobs = ReturnType<typeof make>

/** The `deferredDelay` option in milliseconds, or why it is not a delay. */
export const delayMillis = (input: Duration.DurationInput | undefined): Either.Either<number, string> => {
  if (input === undefined) return Either.right(DEFAULT_DELAY_MILLIS)
  const millis = Option.map(Duration.decodeUnknown(input), Duration.toMillis)
  return Option.isSome(millis) && Number.isFinite(millis.value) && millis.value >= 0
    ? Either.right(millis.value)
    : Either.left(`Invalid deferredDelay: ${String(input)}`)
}

const invalid = (message: string) => Reply.json(400, { code: "invalid-argument", error: message })

/** A deferred request cannot also be streamed: refused before any quota is charged. */
export const checkRequest = (request: { readonly deferred?: boolean | null | undefined; readonly stream?: boolean | null | undefined }) =>
  request.deferred === true && request.stream === true
    ? Effect.fail(invalid("A deferred completion cannot be streamed: send either `deferred` or `stream`."))
    : Effect.void

/** Files the completion as a job and answers with its id. */
export const submit = (
  context: RouteContext,
  completion: unknown,
  headers: Headers,
  usage: Usage
): Effect.Effect<Reply.Reply> =>
  Effect.map(uuid, (id) => {
    context.deferred.add(id, context.nowMillis, completion)
    return Reply.json(200, { request_id: id }, headers, usage)
  })

const pending: Reply.Reply = { _tag: "Body", status: 202, headers: {}, text: "" }

export const deferredCompletion: Route = {
  method: "GET",
  path: "/v1/chat/deferred-completion/:id",
  handle: (context) => {
    const id = context.params["id"] ?? ""
    const job = context.deferred.take(id, context.nowMillis)
    switch (job._tag) {
      case "Pending":
        return Effect.succeed(pending)
      case "Ready":
        return Effect.succeed(Reply.json(200, job.completion))
      case "Unknown":
        return Effect.fail(Reply.json(404, {
          code: "not-found",
          error: `No deferred completion with id ${id}: it was never requested, was already fetched, or has expired.`
        }))
    }
  }
}
