/**
 * The models the simulator lists, and how each one reasons.
 *
 * Chat and embeddings accept any model id (xAI adds models often, and clients must treat
 * the id as an open string); the catalog only drives `GET /v1/models` and
 * `GET /v1/models/{id}`, and the default reasoning behaviour.
 *
 * @internal
 */
import type { ReasoningMode } from "../Simulator.js"

export interface CatalogEntry {
  readonly id: string
  readonly reasoning: ReasoningMode
}

/** Reasoning as xAI's models show it: grok-3-mini streams its thoughts, grok-4 only counts them. */
export const defaultCatalog: ReadonlyArray<CatalogEntry> = [
  { id: "grok-4.3", reasoning: "hidden" },
  { id: "grok-4.20-0309-reasoning", reasoning: "hidden" },
  { id: "grok-4.20-0309-non-reasoning", reasoning: "none" },
  { id: "grok-4.20-multi-agent-0309", reasoning: "hidden" },
  { id: "grok-4", reasoning: "hidden" },
  { id: "grok-4-fast-reasoning", reasoning: "hidden" },
  { id: "grok-4-fast-non-reasoning", reasoning: "none" },
  { id: "grok-code-fast-1", reasoning: "hidden" },
  { id: "grok-3", reasoning: "none" },
  { id: "grok-3-mini", reasoning: "visible" }
]

/** A fixed creation time (2025-01-01) keeps the listing deterministic. */
const CREATED = 1_735_689_600

export const modelObject = (id: string) => ({ id, created: CREATED, object: "model", owned_by: "xai" })

export const modelList = (ids: ReadonlyArray<string>) => ({ object: "list", data: ids.map(modelObject) })
