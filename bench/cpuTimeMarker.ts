/**
 * The marker of the stderr line `cpuTime.js` prints. A module of its own, with no imports, so
 * that the parent reads it without loading the preload (which would report the parent too).
 *
 * @since 0.2.0
 */
export const cpuTimeMarker = "effect-grok-bench:cpu-ms"
