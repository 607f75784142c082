/**
 * One request, from socket to log entry:
 *
 * 1. read the body; number the request and log its arrival (waking `awaitRequests`);
 * 2. wait the configured latency, pick a fault from the plan (seeded per request number);
 * 3. answer the fault, or route → key check → handler (decode, quota) → delivery, shaped by
 *    delivery faults;
 * 4. close the log entry (answered, cut by the simulator, or abandoned by the client).
 *
 * All timing is deadlines from the arrival instant on Effect's `Clock`.
 *
 * @internal
 */
import { Cause, Clock, Deferred, Effect, Exit, Random } from "effect"
import type * as Http from "node:http"
import * as FaultPlan from "../FaultPlan.js"
import * as Delivery from "./delivery.js"
import { uuid } from "./ids.js"
import type { Headers } from "./quotaHeaders.js"
import * as Reply from "./reply.js"
import type { Entry, Outcome } from "./requestLog.js"
import type { DeferredJobs } from "./deferred.js"
import type { Body, Catalog, Route } from "./routes.js"
import { dispatch } from "./routes.js"
import type { State } from "./state.js"
import * as XaiErrors from "./xaiErrors.js"

export const MAX_BODY_BYTES = 32 * 1024 * 1024

export interface Settings {
  /** `undefined`: any non-empty key is accepted. */
  readonly apiKeys: ReadonlySet<string> | undefined
  readonly latencyMillis: number
  readonly seed: string
  readonly catalog: Catalog
  readonly routes: ReadonlyArray<Route>
  readonly deferred: DeferredJobs
}

interface RawBody {
  readonly text: string
  readonly tooLarge: boolean
}

const readBody = (request: Http.IncomingMessage): Effect.Effect<RawBody, void> =>
  Effect.async<RawBody, void>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    }
    const onEnd = () => resume(Effect.succeed({ text: Buffer.concat(chunks).toString("utf8"), tooLarge: size > MAX_BODY_BYTES }))
    const onClose = () => {
      if (!request.complete) resume(Effect.fail(undefined))
    }
    request.on("data", onData)
    request.once("end", onEnd)
    request.once("close", onClose)
    return Effect.sync(() => {
      request.off("data", onData)
      request.off("end", onEnd)
      request.off("close", onClose)
    })
  })

const parseBody = (text: string): Body => {
  if (text.trim().length === 0) return { _tag: "Invalid", message: "the body is empty" }
  try {
    return { _tag: "Json", value: JSON.parse(text) }
  } catch (error) {
    return { _tag: "Invalid", message: error instanceof Error ? error.message : String(error) }
  }
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A top-level field of a JSON object body, read before validation (for matching and the log). */
const field = (body: Body, name: string): unknown =>
  body._tag === "Json" && isRecord(body.value) ? body.value[name] : undefined

const normalizePath = (rawUrl: string | undefined): string => {
  const pathname = (rawUrl ?? "/").split("?")[0] ?? "/"
  return pathname.length > 1 && pathname.endsWith("/") ? pathname.slice(0, -1) : pathname
}

const bearerKey = (header: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")
  return match?.[1]
}

const statusReply = (fault: Extract<FaultPlan.Fault, { kind: "status" }>): Reply.Reply => {
  const headers: Headers = fault.headers ?? {}
  if (fault.body === undefined) return Reply.json(fault.status, XaiErrors.forStatus(fault.status), headers)
  return typeof fault.body === "string"
    ? Reply.text(fault.status, fault.body, headers)
    : Reply.json(fault.status, fault.body, headers)
}

const shapingOf = (fault: FaultPlan.Fault | undefined): Delivery.Shaping => {
  switch (fault?.kind) {
    case "malformed":
      return { _tag: "Malformed" }
    case "dropStream":
      return { _tag: "Drop", afterChunks: fault.afterChunks }
    case "slowStream":
      return { _tag: "Slow", firstTokenMillis: fault.firstTokenMillis, chunkMillis: fault.chunkMillis }
    default:
      return Delivery.normal
  }
}

const withRequestId = (reply: Reply.Reply, requestId: string): Reply.Reply => ({
  ...reply,
  headers: { "x-request-id": requestId, ...reply.headers }
})

export const make = (settings: Settings, state: State, onEnded: (entry: Entry) => Effect.Effect<void>) => {
  /** Route, key check, handler: the answer a healthy server would give. */
  const answer = (
    request: Http.IncomingMessage,
    method: string,
    path: string,
    body: Body,
    nowMillis: number
  ): Effect.Effect<Reply.Reply> => {
    const found = dispatch(settings.routes, method, path)
    if (found._tag === "NotFound") return Effect.succeed(Reply.json(404, XaiErrors.notFound(method, path)))
    if (found._tag === "MethodNotAllowed") {
      return Effect.succeed(
        Reply.json(405, XaiErrors.methodNotAllowed(method, path), { allow: found.allow.join(", ") })
      )
    }
    const key = bearerKey(request.headers.authorization)
    if (key === undefined) return Effect.succeed(Reply.json(401, XaiErrors.missingKey))
    if (settings.apiKeys !== undefined && !settings.apiKeys.has(key)) {
      return Effect.succeed(Reply.json(400, XaiErrors.incorrectKey(key)))
    }
    return found.route.handle({
      params: found.params,
      query: new URLSearchParams((request.url ?? "").split("?")[1] ?? ""),
      body,
      nowMillis,
      catalog: settings.catalog,
      admit: (model, tokens) => state.admit(model, tokens, nowMillis),
      deferred: settings.deferred
    }).pipe(Effect.merge)
  }

  return (request: Http.IncomingMessage, response: Http.ServerResponse): Effect.Effect<void> =>
    Effect.gen(function*() {
      let closedBySimulator = false
      const clientGone = yield* Deferred.make<void>()
      response.once("close", () => {
        if (!response.writableFinished && !closedBySimulator) Deferred.unsafeDone(clientGone, Exit.void)
      })
      const connection: Delivery.Connection = {
        response,
        cut: Effect.sync(() => {
          closedBySimulator = true
          // end, not destroy: what was written still reaches the client before the FIN
          response.socket?.end()
        }),
        reset: Effect.sync(() => {
          closedBySimulator = true
          if (!request.socket.destroyed) request.socket.resetAndDestroy()
        })
      }

      const raw = yield* readBody(request).pipe(Effect.option)
      if (raw._tag === "None") return

      const method = request.method ?? "GET"
      const path = normalizePath(request.url)
      const body = parseBody(raw.value.text)
      const modelField = field(body, "model")
      const model = typeof modelField === "string" ? modelField : undefined
      const stream = field(body, "stream") === true

      const arrivedAt = yield* Clock.currentTimeMillis
      const { index, modelIndex } = state.reserve(model)
      const random = Random.make(`${settings.seed}:${index}`)
      const requestId = yield* Effect.withRandom(uuid, random)
      const entry: Entry = {
        index,
        modelIndex,
        requestId,
        method,
        path,
        model,
        stream,
        status: null,
        fault: undefined,
        outcome: "in-flight",
        startedAt: arrivedAt,
        endedAt: undefined,
        usage: undefined
      }
      state.log.arrive(entry)

      const send = (reply: Reply.Reply, shaping: Delivery.Shaping, startMillis: number) =>
        Delivery.deliver(connection, withRequestId(reply, requestId), shaping, startMillis, (status) => {
          entry.status = status
        })

      const work: Effect.Effect<Outcome> = Effect.gen(function*() {
        if (raw.value.tooLarge) {
          return yield* send(Reply.json(413, XaiErrors.bodyTooLarge(MAX_BODY_BYTES)), Delivery.normal, arrivedAt)
        }
        const rule = yield* FaultPlan.select(state.faults(), {
          path,
          model,
          index,
          modelIndex: modelIndex ?? index,
          elapsedMillis: state.elapsedMillis(arrivedAt)
        })
        const fault = rule?.fault
        entry.fault = fault?.kind
        const readyAt = arrivedAt + settings.latencyMillis + (fault?.kind === "latency" ? fault.millis : 0)
        yield* Delivery.sleepUntil(readyAt)
        switch (fault?.kind) {
          case "status":
            return yield* send(statusReply(fault), Delivery.normal, readyAt)
          case "errorInOk":
            return yield* send(Reply.json(200, XaiErrors.firstTokenTimeout), Delivery.normal, readyAt)
          case "reset":
            yield* connection.reset
            return "aborted"
          case "stall":
            if (stream) {
              yield* Delivery.writeHead(response, 200, { ...Reply.streamHeaders, "x-request-id": requestId })
              entry.status = 200
            }
            return yield* Effect.never
        }
        const reply = yield* answer(request, method, path, body, readyAt)
        entry.usage = reply.usage
        return yield* send(reply, shapingOf(fault), readyAt)
      }).pipe(
        Effect.withRandom(random),
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            yield* Effect.logError("GrokSimulator: request handler failed", Cause.pretty(cause))
            if (response.headersSent) {
              yield* connection.cut
              return "aborted" as const
            }
            return yield* send(Reply.json(500, XaiErrors.forStatus(500)), Delivery.normal, arrivedAt)
          })
        )
      )

      const outcome = yield* Effect.raceFirst(work, Deferred.await(clientGone).pipe(Effect.as("client-closed" as const)))
      entry.outcome = outcome
      entry.endedAt = yield* Clock.currentTimeMillis
      state.log.end(entry)
      yield* onEnded({ ...entry })
    }).pipe(Effect.annotateLogs("component", "GrokSimulator"))
}
