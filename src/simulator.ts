/**
 * `effect-grok/simulator`: a local xAI-compatible server with quotas and fault injection, for
 * tests and demos. Needs nothing beyond `effect` (it serves with `node:http`).
 *
 * @since 0.2.0
 */

/** The local xAI-compatible simulator. @since 0.1.0 */
export * as GrokSimulator from "./simulator/Simulator.js"
/** The simulator's fault plans. @since 0.1.0 */
export * as FaultPlan from "./simulator/FaultPlan.js"
/** The simulator's quotas. @since 0.1.0 */
export * as Quota from "./simulator/Quota.js"
