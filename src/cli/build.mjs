#!/usr/bin/env node
/**
 * Builds the CLI (`npm run build:cli`): `src/cli/bin.ts` bundled by esbuild into `dist/cli`,
 * code-split so that each command's handler, and what only it uses, is a chunk of its own
 * (`src/cli/internal/lazy.ts`).
 *
 * One transform on the way: `import { Effect, Option } from "effect"` in `src/` becomes
 * `import * as Effect from "effect/Effect"` and `import * as Option from "effect/Option"`.
 * Through the barrel, esbuild keeps every member of each namespace it re-exports (the
 * namespace object is built whole), where an import by path keeps only the members used:
 * a command then loads less JavaScript and runs in less memory (figures: docs/benchmarks.md,
 * "CLI start-up"). The sources keep the barrel, as the rest of the
 * code base does; only the bundle changes.
 */
import { build } from "esbuild"
import { readFile, rm } from "node:fs/promises"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** Names the `effect` barrel exports that are not modules: they come from `effect/Function`. */
const fromFunction = new Set(["absurd", "constant", "constFalse", "constNull", "constTrue", "constUndefined", "constVoid", "dual", "flow", "hole", "identity", "pipe", "unsafeCoerce"])

const barrelImport = /import\s*\{([^}]*)\}\s*from\s*"effect"/g

/** `import { A, type B } from "effect"` as imports by path. */
const importByPath = (source) =>
  source.replace(barrelImport, (_, names) => {
    const functions = []
    const statements = []
    for (const raw of names.split(",").map((name) => name.trim()).filter((name) => name !== "")) {
      const typeOnly = raw.startsWith("type ")
      const name = typeOnly ? raw.slice(5).trim() : raw
      if (/\sas\s/.test(name)) throw new Error(`build-cli: renamed import from "effect" not handled: ${raw}`)
      if (fromFunction.has(name)) functions.push(raw)
      else statements.push(`import ${typeOnly ? "type " : ""}* as ${name} from "effect/${name}"`)
    }
    if (functions.length > 0) statements.push(`import { ${functions.join(", ")} } from "effect/Function"`)
    return statements.join(";\n")
  })

const effectByPath = {
  name: "effect-by-path",
  setup(esbuild) {
    esbuild.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => ({
      contents: importByPath(await readFile(args.path, "utf8")),
      loader: "ts"
    }))
  }
}

const outdir = `${root}dist/cli`
// Chunk names carry a hash: a build over an old one would leave its chunks behind.
await rm(outdir, { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: ["src/cli/bin.ts"],
  bundle: true,
  minify: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  mainFields: ["module", "main"],
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  external: ["msgpackr-extract"],
  // Bundled CommonJS dependencies (undici, ioredis) call `require` for Node's modules.
  banner: { js: "import { createRequire as __effectGrokRequire } from 'node:module'; const require = __effectGrokRequire(import.meta.url);" },
  plugins: [effectByPath],
  logLevel: "warning"
})
