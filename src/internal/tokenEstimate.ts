/**
 * Estimating a call's token cost before it is sent, so a tokens-per-minute limit can be
 * respected up front. The estimate is reconciled with the response's `usage` afterwards
 * (refund or debit), so it only needs to be roughly right and rather high than low.
 *
 * @internal
 */

/** Characters per token for English-like text: the usual rule of thumb for BPE tokenizers. */
const charsPerToken = 4

/** Completion budget assumed when a request sets no `max_tokens`. */
export const defaultCompletionTokens = 1024

const textLength = (value: unknown): number => {
  if (typeof value === "string") return value.length
  if (Array.isArray(value)) return value.reduce((sum: number, part) => sum + textLength(part), 0)
  if (value !== null && typeof value === "object") {
    let sum = 0
    for (const [k, v] of Object.entries(value)) {
      if (k === "text" || k === "content" || k === "arguments" || k === "input") sum += textLength(v)
    }
    return sum
  }
  return 0
}

/** Tokens of a prompt-like value (messages, input strings or items). */
export const promptTokens = (prompt: unknown): number => Math.ceil(textLength(prompt) / charsPerToken)

/** Prompt tokens plus the completion budget the request allows. */
export const estimate = (prompt: unknown, maxCompletion: number | undefined): number =>
  promptTokens(prompt) + Math.max(0, maxCompletion ?? defaultCompletionTokens)
