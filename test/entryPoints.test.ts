/**
 * What each entry point loads: the modules reachable from it by static and dynamic imports,
 * read from the sources. `effect-grok` must load neither `@effect/ai` nor any other optional
 * peer; `effect-grok/ai` is the one that loads `@effect/ai`.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../src")

const specifiers = (source: string): ReadonlyArray<string> =>
  [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)|(?:^|\n)\s*import\s+"([^"]+)"/g)].map((m) =>
    m[1] ?? m[2] ?? m[3] ?? ""
  )

/** Packages reachable from `entry` (relative imports followed, `import type` and Node's built-ins skipped). */
const packagesReachedFrom = (entry: string): ReadonlySet<string> => {
  const seen = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = readFileSync(file, "utf8").replace(/(?:^|\n)\s*(?:import|export)\s+type\s[^;]*?from\s+"[^"]+"/g, "")
    for (const specifier of specifiers(source)) {
      if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")))
      else if (!specifier.startsWith("node:")) packages.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!)
    }
  }
  visit(resolve(src, entry))
  return packages
}

describe("entry points", () => {
  it("effect-grok loads effect and @effect/platform only", () => {
    expect([...packagesReachedFrom("index.ts")].sort()).toEqual(["@effect/platform", "effect"])
  })

  it("effect-grok/ai loads @effect/ai beside them", () => {
    expect([...packagesReachedFrom("ai.ts")].sort()).toEqual(["@effect/ai", "@effect/platform", "effect"])
  })
})
