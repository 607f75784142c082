/**
 * Whether an answer came from another model than the one asked for.
 *
 * xAI answers with the model that served the request, which is not always the id sent: an
 * alias resolves to a dated release (`grok-4` answers as `grok-4-0709`), ids may carry a
 * region (`..._us-east-1`), and a family name picks a variant (`grok-4-fast` answers as
 * `grok-4-fast-reasoning`). None of these is a different model. Since the retirement of
 * 2026-05-15, retired slugs keep resolving but are served, and billed, as `grok-4.3`, and
 * nothing in the answer says so but its `model`: that is a redirect.
 *
 * @internal
 */

/** A region suffix, as xAI appends it to model ids (`_us-east-1`). */
const REGION = /[_-](?:us|eu|ap|sa|ca|me|af)-(?:east|west|north|south|central|northeast|northwest|southeast|southwest)-\d+$/

/** A release date as a segment of its own: `-0709`, `-20250709`, `-2025-07-09`. */
const DATE = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})(?=-|$)/g

/** Variants of one model that a family name resolves to. */
const VARIANT = /-(?:non-reasoning|reasoning)$/

/** The model id without what does not make it another model: case, region, release date. */
export const baseModel = (id: string): string => id.trim().toLowerCase().replace(REGION, "").replace(DATE, "")

/**
 * `true` when `answered` is a different model from `requested`; `false` when it is the same
 * model, a dated or regional release of it, or the reasoning / non-reasoning variant a family
 * name resolves to. An alias such as `grok-latest` may resolve to any model: never a redirect.
 */
export const isRedirect = (requested: string, answered: string): boolean => {
  if (requested === answered || answered === "") return false
  const asked = baseModel(requested)
  if (asked === "" || asked.endsWith("latest")) return false
  const got = baseModel(answered)
  return got !== asked && got.replace(VARIANT, "") !== asked
}
