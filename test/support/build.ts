/**
 * `dist/` as the tests that run the shipped CLI need it: rebuilt (`npm run build`) when a file
 * under `src/` is newer than the built CLI. Called once per run, by the global setup.
 */
import { execFileSync } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const bin = join(root, "dist/cli/bin.js")

/** The newest modification time under `dir`. */
const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name)
    return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }, 0)

export const ensureBuilt = (): void => {
  let built = 0
  try {
    built = statSync(bin).mtimeMs
  } catch {
    built = 0
  }
  if (built < newest(join(root, "src"))) execFileSync("npm", ["run", "build"], { cwd: root, stdio: "ignore" })
}
