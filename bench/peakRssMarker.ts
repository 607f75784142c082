/**
 * The marker of the stderr line `peakRss.js` prints. A module of its own, with no imports: the
 * preload must not load anything a start-up benchmark would then count.
 *
 * @since 0.1.0
 */
export const peakRssMarker = "effect-grok-bench:peak-rss-mb"
