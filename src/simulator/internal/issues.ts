/**
 * Schema decode errors as short lines a person can act on.
 *
 * @internal
 */
import { ParseResult } from "effect"

/**
 * One `path: message` per problem, joined with `; `. Optional fields also report that they
 * are not `undefined`, which says nothing: those lines are dropped.
 */
export const describeIssues = (
  error: ParseResult.ParseError,
  where: (path: ReadonlyArray<PropertyKey>) => string = (path) => path.join(".")
): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .filter(({ message }) => !message.startsWith("Expected undefined"))
    .map(({ message, path }) => {
      const place = where(path)
      return place.length > 0 ? `${place}: ${message}` : message
    })
    .join("; ")
