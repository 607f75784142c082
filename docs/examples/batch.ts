/**
 * docs/batch.md: a job through xAI's Batch API, resumable, its results saved as they arrive;
 * the failures a job can end with; the pieces (create, add, results, cancel) on their own.
 * Type-checked by `npm test` (tsc --noEmit covers docs/examples).
 */
import { Effect, Option, Schedule, Stream } from "effect"
import type * as BatchError from "../../src/BatchError.js"
import * as GrokBatch from "../../src/GrokBatch.js"
import * as NodeGrokBatch from "../../src/NodeGrokBatch.js"
import * as Batch from "../../src/schema/Batch.js"
import * as Chat from "../../src/schema/Chat.js"

interface Ticket {
  readonly id: string
  readonly text: string
}

// --- 1. A job: its name finds its batch again, its ids become batch_request_ids ------------

export const classify = (tickets: ReadonlyArray<Ticket>, day: string): GrokBatch.Job => ({
  // Same name, same batch: a second run after a crash resumes it and adds nothing twice.
  name: `ticket-triage-${day}`,
  requests: tickets.map((ticket) => ({
    id: ticket.id,
    chat: {
      model: "grok-4.3",
      messages: [
        { role: "system", content: "Answer with one word: bug, billing, question or other." },
        { role: "user", content: ticket.text }
      ],
      max_completion_tokens: 5
    }
  }))
})

// --- 2. Run it: one outcome per request, saved as it arrives ---------------------------------

/** Where the answers go (a database, a file): called once per request. */
declare const save: (id: string, label: string | undefined, error: string | undefined) => Effect.Effect<void>

export const triage = (tickets: ReadonlyArray<Ticket>, day: string) =>
  Effect.gen(function*() {
    const batches = yield* GrokBatch.GrokBatch
    yield* batches.run(classify(tickets, day), {
      // Look every 30 s at most while it runs (results are read as they appear).
      poll: Schedule.exponential("5 seconds", 1.5).pipe(Schedule.union(Schedule.spaced("30 seconds")), Schedule.asVoid),
      onProgress: (batch) => Effect.logInfo(`batch ${batch.batch_id}`, Batch.countersOf(batch))
    }).pipe(
      Stream.runForEach((outcome) => {
        switch (outcome._tag) {
          case "Succeeded":
            return save(outcome.id, Option.getOrUndefined(Option.map(GrokBatch.completionOf(outcome), Chat.contentOf)), undefined)
          case "Failed":
            return save(outcome.id, undefined, `${outcome.code ?? "failed"}: ${outcome.message}`)
          case "Cancelled":
            return save(outcome.id, undefined, "cancelled")
        }
      })
    )
  }).pipe(
    // Interrupting this program leaves the batch running at xAI: run it again to pick it up.
    Effect.provide(NodeGrokBatch.layerConfig())
  )

// --- 3. How a job can fail, beyond one call's GrokError --------------------------------------

export const explain = (error: BatchError.BatchError): string => {
  switch (error._tag) {
    case "BatchInvalidRequest":
      // Nothing was sent: every unusable request is listed.
      return error.issues.map((issue) => `${issue.id}: ${issue.message}`).join("\n")
    case "BatchAddRejected":
      // The server refused a whole add call; `id` names the request it objected to.
      return `request ${error.id ?? "(not named)"} refused: ${error.cause.message}`
    case "BatchIncomplete":
      // Cancelled, expired, finished without them, or the poll schedule ended: run the job again.
      return `${error.missing.length} requests without a result (${error.reason})`
    default:
      return `${error._tag}: ${error.message}`
  }
}

// --- 4. The pieces on their own ----------------------------------------------------------------

export const byHand = Effect.gen(function*() {
  const batches = yield* GrokBatch.GrokBatch
  const batch = yield* batches.create("by-hand")
  yield* batches.add(batch.batch_id, [{ id: "q1", chat: { messages: [{ role: "user", content: "2 + 2?" }] } }])
  // Every result of the batch (ids are batch_request_ids here), then the states of its requests.
  const results = yield* Stream.runCollect(batches.results(batch.batch_id))
  const states = yield* Stream.runCollect(batches.requestStates(batch.batch_id))
  // Cancel: pending requests are not run; results already produced stay readable.
  yield* batches.cancel(batch.batch_id)
  return { results, states }
})
