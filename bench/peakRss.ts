/**
 * Preloaded into every benchmark child (`node --import .../peakRss.js`): as the process
 * exits, prints its peak resident set size on stderr, so that the parent reads each
 * client's own figure whatever the child is (a bench client, the `load` command).
 *
 * @since 0.1.0
 */
import { peakRssMarker } from "./peakRssMarker.js"

process.on("exit", () => {
  process.stderr.write(`\n${peakRssMarker} ${Math.round(process.resourceUsage().maxRSS / 1024)}\n`)
})
