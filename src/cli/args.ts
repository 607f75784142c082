/**
 * Parsing of CLI values shared by the commands.
 *
 * @internal
 */
import * as GrokConfig from "../GrokConfig.js"

/** A duration flag: `30s`, `500ms`, `2m`, a bare number of seconds, or `30 seconds` (the environment reads the same). */
export const parseDuration = GrokConfig.parseDuration
