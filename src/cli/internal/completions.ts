/**
 * Shell completion scripts (`effect-grok --completions bash|zsh|fish|sh`), from @effect/cli.
 *
 * Its bash script has two flaws, mended by {@link bash}:
 *
 * - for a program whose name has a hyphen (Effect-TS/effect#6114) it starts matching from
 *   `cmd="effect-grok"` but names the subcommands' cases `effect__grok,chat`, so nothing after
 *   the subcommand completes (`effect-grok chat --j<TAB>`): the program's case gets the name
 *   the subcommands' cases use;
 * - it lists a flag's choices to `compgen -W` joined by commas, which bash reads as one word
 *   (`--priority <TAB>` offers `critical,normal,background`): they are joined by spaces.
 *
 * @internal
 */
import { Command } from "@effect/cli"
import { Effect } from "effect"

/** The bash completion script of `root`, installed as `name`. */
export const bash = <Name extends string, R, E, A>(root: Command.Command<Name, R, E, A>, name: string): Effect.Effect<string> => {
  const safe = name.replaceAll("-", "__")
  return Effect.map(Command.getBashCompletions(root, name), (lines) =>
    lines
      .map((line) => {
        const code = line.trim()
        if (code === `cmd="${name}"`) return line.replace(code, `cmd="${safe}"`)
        if (code === `${name})`) return line.replace(code, `${safe})`)
        return line.replace(/compgen -W "([^"$]*)"/, (_, choices: string) => `compgen -W "${choices.replaceAll(",", " ")}"`)
      })
      .join("\n"))
}

/** `--completions bash` anywhere in `args`: the one built-in option answered here rather than by @effect/cli. */
export const wantsBash = (args: ReadonlyArray<string>): boolean =>
  args.some((arg, i) => (arg === "--completions" && args[i + 1] === "bash") || arg === "--completions=bash")
