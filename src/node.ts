/**
 * `effect-grok/node`: the client and the batch client on Node's undici HTTP client. Needs
 * `@effect/platform-node`.
 *
 * @since 0.2.0
 */

/** `GrokClient` layers on undici. @since 0.2.0 */
export * as NodeGrokClient from "./NodeGrokClient.js"
/** `GrokBatch` layers on undici. @since 0.2.0 */
export * as NodeGrokBatch from "./NodeGrokBatch.js"
