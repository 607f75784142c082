/**
 * The plumbing of `npm run bench -- --only cli-startup` (not its timings): the table of what
 * was measured, and the verdicts on the CLI's start-up targets.
 */
import { describe, expect, it } from "@effect/vitest"
import { cliVerdicts, type Measured, table } from "../bench/startup.js"

const measured = (name: string, medianMs: number, medianPeakRssMb: number, medianCpuMs: number): Measured => ({
  name,
  runs: 9,
  medianMs,
  minMs: medianMs - 10,
  maxMs: medianMs + 10,
  medianPeakRssMb,
  medianCpuMs,
  failed: 0
})

describe("bench cli-startup", () => {
  it("each target is met or missed by the medians", () => {
    const met = [
      measured("openai SDK, one chat call (script)", 400, 90, 300),
      measured("effect-grok chat --json", 800, 110, 390),
      measured("effect-grok --help", 500, 60, 220)
    ]
    expect(cliVerdicts(met)).toEqual([
      "- chat --json: 2.00x the openai one-call script (target at most 2x): met",
      "- chat --json: peak RSS 110 MB (target at most 110 MB): met",
      "- --help: 500 ms (target at most 500 ms): met"
    ])
    const missed = [
      measured("openai SDK, one chat call (script)", 400, 90, 300),
      measured("effect-grok chat --json", 801, 111, 390),
      measured("effect-grok --help", 501, 60, 220)
    ]
    expect(cliVerdicts(missed).every((line) => line.endsWith(": MISSED"))).toBe(true)
    expect(cliVerdicts(missed.slice(0, 2))).toEqual([])
  })

  it("the table gives wall time and CPU time against the baseline, and peak memory", () => {
    const lines = table([measured("openai SDK, one chat call (script)", 400, 90, 300), measured("effect-grok --help", 300, 60, 150)], "openai SDK, one chat call (script)")
      .split("\n")
    expect(lines[0]).toBe("| what | median ms | range ms | x openai SDK, one chat call (script) | CPU ms | CPU x | peak RSS MB |")
    expect(lines[3]).toBe("| effect-grok --help | 300 | 290-310 | 0.75 | 150 | 0.50 | 60 |")
  })
})
