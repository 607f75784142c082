/**
 * Real child processes for the multi-process test. Node 20 cannot run TypeScript, so the
 * child program (`limiterProcess.ts` and the library sources it imports) is bundled once into
 * one CommonJS file with esbuild (already installed as Vite's bundler), then run with `node`.
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import type { LimiterProcessInput, LimiterProcessOutput } from "./limiterProcess.js"

export interface LimiterProgram {
  /** Run one process to completion and read its output. */
  readonly run: (input: LimiterProcessInput) => Promise<LimiterProcessOutput>
  readonly remove: () => Promise<void>
}

export const bundleLimiterProgram = async (): Promise<LimiterProgram> => {
  const dir = await mkdtemp(join(tmpdir(), "effect-grok-process-"))
  const file = join(dir, "limiterProcess.cjs")
  await build({
    entryPoints: [fileURLToPath(new URL("./limiterProcess.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: file,
    logLevel: "silent"
  })
  return {
    run: (input) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [file, JSON.stringify(input)], { stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
        child.once("error", reject)
        child.once("close", (code) =>
          code === 0
            ? resolve(JSON.parse(stdout) as LimiterProcessOutput)
            : reject(new Error(`limiter process exited with ${code}: ${stderr}`)))
      }),
    remove: () => rm(dir, { recursive: true, force: true })
  }
}
