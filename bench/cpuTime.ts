/**
 * Preloaded into the start-up benchmark's children (`node --import .../cpuTime.js`): as the
 * process exits, prints the CPU time it used (user + system) on stderr. On a busy machine a
 * child's wall time includes its waits for a core; its CPU time does not. It imports only its
 * marker: the preload must not load anything the benchmark would then count.
 *
 * @since 0.2.0
 */
import { cpuTimeMarker } from "./cpuTimeMarker.js"

process.on("exit", () => {
  const usage = process.resourceUsage()
  process.stderr.write(`\n${cpuTimeMarker} ${Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000)}\n`)
})
