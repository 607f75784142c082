#!/usr/bin/env node
/**
 * The consumer check: effect-grok as someone else's app meets it.
 *
 * Packs the package, installs the tarball into a fresh app that pins `effect` and
 * `@effect/platform` to the lowest versions of effect-grok's peer ranges, type-checks and runs
 * `program.ts` there (the app's own Schedules and Layers with effect-grok, on FetchHttpClient,
 * against the simulator), then installs the optional peer `@effect/ai` and type-checks and runs
 * `programAi.ts` (`effect-grok/ai`), runs the installed CLI, and lints the tarball with publint and
 * @arethetypeswrong/cli. Fails on more than one copy of `effect`, a type error, an
 * `Executing an Effect versioned` warning, or any failed step.
 *
 * Run by `.ci/run` after the test suite (`npm run test:consumer`); needs the npm registry.
 */
import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, "../..")
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"))
const started = Date.now()

/** The lowest version a `^x.y.z` or `~x.y.z` range accepts. */
const lowest = (range) => {
  const match = /^[\^~]?(\d+\.\d+\.\d+)$/.exec(range)
  if (match === null) throw new Error(`cannot take the lowest version of ${range}`)
  return match[1]
}

const step = (what) => process.stdout.write(`consumer check: ${what}\n`)

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`
  if (result.status !== 0) {
    process.stderr.write(output)
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`)
  }
  return output
}

const work = mkdtempSync(join(tmpdir(), "effect-grok-consumer-"))
try {
  step("building and packing")
  run("npm", ["run", "build"], { cwd: repo })
  const packed = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], { cwd: repo }))[0]
  const tarball = join(work, packed.filename)
  step(`${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(0)} KB packed`)
  for (const file of packed.files) {
    if (/^(test|bench|\.bench-build|\.ci)\//.test(file.path) || /(^|\/)internal\/.*\.test\./.test(file.path)) {
      throw new Error(`the tarball holds ${file.path}`)
    }
  }

  const app = join(work, "app")
  const effectVersion = lowest(pkg.peerDependencies.effect)
  const platformVersion = lowest(pkg.peerDependencies["@effect/platform"])
  spawnSync("mkdir", ["-p", app])
  writeFileSync(join(app, "package.json"), JSON.stringify({
    name: "consumer-app",
    private: true,
    type: "module",
    dependencies: { effect: effectVersion, "@effect/platform": platformVersion, "effect-grok": `file:${tarball}` },
    devDependencies: { typescript: pkg.devDependencies.typescript, "@types/node": pkg.devDependencies["@types/node"] }
  }, null, 2))
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      types: ["node"],
      outDir: "dist",
      skipLibCheck: false
    },
    include: ["program.ts"]
  }, null, 2))
  copyFileSync(join(here, "program.ts"), join(app, "program.ts"))
  copyFileSync(join(here, "programAi.ts"), join(app, "programAi.ts"))

  step(`installing into an app on effect ${effectVersion} and @effect/platform ${platformVersion}`)
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app })

  /** Every installed copy of `effect`: there must be one, the app's. */
  const checkOneEffect = () => {
    const copies = []
    const findEffect = (dir) => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry)
        if (!statSync(path).isDirectory()) continue
        if (entry.startsWith("@")) {
          findEffect(path)
          continue
        }
        if (entry === "effect") {
          const manifest = JSON.parse(readFileSync(join(path, "package.json"), "utf8"))
          copies.push(`${path.slice(app.length + 1)}@${manifest.version}`)
        }
        const nested = join(path, "node_modules")
        if (statSync(path).isDirectory() && readdirSync(path).includes("node_modules")) findEffect(nested)
      }
    }
    findEffect(join(app, "node_modules"))
    step(`copies of effect: ${copies.length} (${copies.join(", ")})`)
    if (copies.length !== 1) throw new Error(`expected one copy of effect, found ${copies.length}`)
    if (!copies[0].endsWith(`@${effectVersion}`)) throw new Error(`the app's effect is ${copies[0]}, not ${effectVersion}`)
  }
  checkOneEffect()

  step("type-checking the app (skipLibCheck off: effect-grok's declarations are checked too)")
  run(join(app, "node_modules/.bin/tsc"), ["-p", "."], { cwd: app })

  step("running the app")
  const output = run("node", ["dist/program.js"], { cwd: app })
  process.stdout.write(`${output.trimEnd().replace(/^/gm, "  | ")}\n`)
  if (output.includes("Executing an Effect versioned")) throw new Error("effect warned about two versions at run time")
  if (!output.includes("consumer check:")) throw new Error("the app did not report its checks")

  for (const hidden of ["effect-grok/internal/pipeline", "effect-grok/dist/internal/pipeline.js", "effect-grok/GrokClient"]) {
    const attempt = spawnSync("node", ["--input-type=module", "-e", `await import(${JSON.stringify(hidden)})`], { cwd: app, encoding: "utf8" })
    if (attempt.status === 0 || !attempt.stderr.includes("ERR_PACKAGE_PATH_NOT_EXPORTED")) {
      throw new Error(`${hidden} should not be importable: ${attempt.stderr}`)
    }
  }
  step("internal modules are not importable (ERR_PACKAGE_PATH_NOT_EXPORTED)")

  // The main entry point ran without @effect/ai above; now the app adds it, as a user of effect-grok/ai does.
  // On the lowest effect and @effect/platform, @effect/ai's own peers must be their lowest too:
  // npm would pick @effect/experimental 0.61.1 and @effect/rpc 0.76.2, which want 3.22.1 / 0.97.1.
  const aiVersion = lowest(pkg.peerDependencies["@effect/ai"])
  const aiPeers = JSON.parse(run("npm", ["view", `@effect/ai@${aiVersion}`, "peerDependencies", "--json"], { cwd: app }))
  const aiInstall = [`@effect/ai@${aiVersion}`, ...["@effect/experimental", "@effect/rpc"].map((name) => `${name}@${lowest(aiPeers[name])}`)]
  step(`installing the optional peer: ${aiInstall.join(", ")}`)
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...aiInstall], { cwd: app })
  checkOneEffect()
  const tsconfig = JSON.parse(readFileSync(join(app, "tsconfig.json"), "utf8"))
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ ...tsconfig, include: ["program.ts", "programAi.ts"] }, null, 2))
  step("type-checking and running programAi.ts (effect-grok/ai)")
  run(join(app, "node_modules/.bin/tsc"), ["-p", "."], { cwd: app })
  const aiOutput = run("node", ["dist/programAi.js"], { cwd: app })
  process.stdout.write(`${aiOutput.trimEnd().replace(/^/gm, "  | ")}\n`)
  if (aiOutput.includes("Executing an Effect versioned")) throw new Error("effect warned about two versions at run time")
  if (!aiOutput.includes("consumer check (effect-grok/ai):")) throw new Error("programAi.ts did not report its checks")

  step("running the installed CLI")
  const bin = join(app, "node_modules/.bin/effect-grok")
  const version = run(bin, ["--version"], { cwd: app }).trim()
  if (version !== pkg.version) throw new Error(`effect-grok --version printed ${version}, expected ${pkg.version}`)
  const port = await new Promise((ok) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => ok(port))
    })
  })
  const simulator = spawn(bin, ["simulate", "--port", String(port)], { cwd: app, stdio: ["ignore", "pipe", "pipe"] })
  try {
    // Ready once it says where it listens (or gone, if it could not start).
    await new Promise((ok, fail) => {
      let said = ""
      simulator.stdout.on("data", (chunk) => {
        said += chunk.toString("utf8")
        if (said.includes("listening on")) ok()
      })
      simulator.on("exit", (code) => fail(new Error(`effect-grok simulate exited with ${code} before listening: ${said}`)))
    })
    const answer = JSON.parse(run(bin, ["chat", "--base-url", `http://127.0.0.1:${port}/v1`, "--json", "Say hi"], {
      cwd: app,
      env: { ...process.env, XAI_API_KEY: "consumer-key" }
    }))
    if (answer.ok !== true) throw new Error(`effect-grok chat --json answered ${JSON.stringify(answer)}`)
    step(`effect-grok ${version}: chat --json answered "${answer.content}"`)
  } finally {
    simulator.kill("SIGTERM")
  }

  step("publint")
  run(join(repo, "node_modules/.bin/publint"), ["run", "--strict", "--pack", "false"], { cwd: repo })
  step("@arethetypeswrong/cli (ESM only: CommonJS resolutions are not offered)")
  run(join(repo, "node_modules/.bin/attw"), [tarball, "--profile", "esm-only"], { cwd: repo })

  step(`passed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
