/**
 * `effect-grok --completions bash`: the script @effect/cli generates, mended (see
 * `src/cli/internal/completions.ts`), loaded into a real bash and asked what it would complete,
 * as bash asks when the user presses Tab.
 */
import { describe, expect, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"

/** `effect-grok <args>`: what it printed on stdout, through `CliOutput` or (@effect/cli's own output) `Console`. */
const script = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let stdout = ""
    const base = yield* Console.consoleWith(Effect.succeed)
    const log = (...parts: ReadonlyArray<unknown>) => {
      stdout += `${parts.map(String).join(" ")}\n`
    }
    const code = yield* run(args).pipe(
      Effect.provideService(CliOutput, {
        stdout: (chunk: string) => {
          stdout += chunk
        },
        stderr: () => {},
        isTTY: false
      }),
      Console.withConsole({ ...base, log: (...parts) => Effect.sync(() => log(...parts)), unsafe: { ...base.unsafe, log } })
    )
    return { code, stdout }
  })

/** What bash, with `completions` loaded, offers for the command line `words` (the last one being completed). */
const offered = (completions: string, words: ReadonlyArray<string>): string => {
  const dir = mkdtempSync(join(tmpdir(), "effect-grok-completions-"))
  try {
    const file = join(dir, "effect-grok.bash")
    writeFileSync(file, completions)
    const quoted = words.map((word) => `'${word}'`).join(" ")
    const probe = [
      `source '${file}'`,
      `COMP_WORDS=(${quoted})`,
      "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))",
      "COMPREPLY=()",
      `_effect-grok_bash_completions effect-grok "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"`,
      "echo \"${COMPREPLY[*]}\""
    ].join("\n")
    const result = spawnSync("bash", ["--noprofile", "--norc", "-c", probe], { encoding: "utf8" })
    expect(result.stderr).toBe("")
    return result.stdout.trim()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("--completions bash", () => {
  it.effect("completes commands, each command's flags, and a flag's choices, word by word", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* script(["--completions", "bash"])
      expect(code).toBe(0)
      expect(stdout).toContain("complete -F _effect-grok_bash_completions")
      expect(offered(stdout, ["effect-grok", ""]).split(" ")).toEqual(expect.arrayContaining(["chat", "simulate", "load", "demo", "--version"]))
      expect(offered(stdout, ["effect-grok", "ch"])).toBe("chat")
      expect(offered(stdout, ["effect-grok", "chat", "--j"])).toBe("--json")
      expect(offered(stdout, ["effect-grok", "load", "--pri"])).toBe("--priority")
      expect(offered(stdout, ["effect-grok", "load", "--priority", ""])).toBe("critical normal background")
      expect(offered(stdout, ["effect-grok", "simulate", "--headers", "g"])).toBe("generic")
      expect(offered(stdout, ["effect-grok", "demo", "--se"])).toBe("--seed")
    }))

  it.effect("zsh and fish scripts come from @effect/cli as they are", () =>
    Effect.gen(function*() {
      const zsh = yield* script(["--completions", "zsh"])
      expect(zsh.code).toBe(0)
      expect(zsh.stdout).toContain("#compdef effect-grok")
      const fish = yield* script(["--completions", "fish"])
      expect(fish.code).toBe(0)
      expect(fish.stdout).toContain("complete -c effect-grok")
    }))
})
