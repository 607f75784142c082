/**
 * Deterministic embeddings: the same model and text always give the same unit vector,
 * whatever the seed, as a real embedding model would.
 *
 * @internal
 */
import { tokensForText } from "./completions.js"

export const DEFAULT_DIMENSIONS = 1024

/** FNV-1a: a stable 32-bit hash of the text, the seed of its vector. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** mulberry32: a tiny deterministic generator of floats in [0, 1). */
const generator = (seed: number) => {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A unit-length vector in float32 precision (what `encoding_format: "base64"` carries). */
export const embed = (model: string, text: string, dimensions: number): Float32Array => {
  const next = generator(fnv1a(`${model}\u0000${text}`))
  const vector = new Float32Array(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) {
    const value = next() * 2 - 1
    vector[i] = value
    norm += value * value
  }
  const scale = norm === 0 ? 0 : 1 / Math.sqrt(norm)
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) * scale
  return vector
}

const encodeBase64 = (vector: Float32Array): string =>
  Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")

export const embeddingsResponse = (request: {
  readonly model: string
  readonly inputs: ReadonlyArray<string>
  readonly dimensions: number
  readonly base64: boolean
}) => {
  const promptTokens = request.inputs.reduce((sum, text) => sum + tokensForText(text.length), 0)
  return {
    object: "list",
    data: request.inputs.map((text, index) => {
      const vector = embed(request.model, text, request.dimensions)
      return { object: "embedding", index, embedding: request.base64 ? encodeBase64(vector) : Array.from(vector) }
    }),
    model: request.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }
  }
}
