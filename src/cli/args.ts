/**
 * Parsing of CLI values shared by the commands.
 *
 * @internal
 */
import { Duration, Either, Option } from "effect"

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * A duration flag: `30s`, `500ms`, `2m`, `1.5s`, `1h`, a bare number of seconds (`30`), or
 * Effect's own form (`30 seconds`). Zero, negative and non-finite values are refused.
 */
export const parseDuration = (raw: string): Either.Either<Duration.Duration, string> => {
  const text = raw.trim()
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text)
  const duration = short !== null
    ? Option.some(Duration.millis(Number(short[1]) * (units[short[2] ?? "s"] ?? 1000)))
    : Duration.decodeUnknown(text)
  if (Option.isNone(duration) || !Duration.isFinite(duration.value) || Duration.toMillis(duration.value) <= 0) {
    return Either.left(`expected a positive duration such as 30s, 500ms or 2m, got ${JSON.stringify(raw)}`)
  }
  return Either.right(duration.value)
}
