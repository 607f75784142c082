/**
 * Tool calls and structured outputs, as a deterministic model would make them: which
 * function to call (if any), its arguments, and a JSON answer that fits a JSON Schema.
 *
 * The rules, the same for chat completions and the Responses API:
 *
 * - A function is called when the request offers function tools, `tool_choice` is not
 *   `"none"`, and either `tool_choice` asks for a call (`"required"` or a named function) or
 *   the conversation's last message is the user's (so that, once a tool result comes back,
 *   the model answers in text instead of calling again). The named function, else the first.
 * - Its arguments, and a `json_schema` answer, are the value {@link valueOf} builds from the
 *   schema: every property filled, strings from the last user message's first words.
 *
 * @internal
 */

/** A function the request offers. */
export interface FunctionTool {
  readonly name: string
  readonly parameters: unknown
}

/** `tool_choice`, read: no call, the model's choice, a call of any function, or of this one. */
export type ToolChoice =
  | { readonly _tag: "None" }
  | { readonly _tag: "Auto" }
  | { readonly _tag: "Required" }
  | { readonly _tag: "Named"; readonly name: string }

/** What the answer's text must be: free text, any JSON object, or JSON fitting a schema. */
export type OutputFormat =
  | { readonly _tag: "Text" }
  | { readonly _tag: "JsonObject" }
  | { readonly _tag: "JsonSchema"; readonly schema: unknown }

export const auto: ToolChoice = { _tag: "Auto" }
export const text: OutputFormat = { _tag: "Text" }

export const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** `tool_choice` of either API: a word, `{type: "function", name}` or `{type: "function", function: {name}}`. */
export const readToolChoice = (choice: unknown): ToolChoice => {
  if (choice === "none") return { _tag: "None" }
  if (choice === "required") return { _tag: "Required" }
  if (isRecord(choice)) {
    const named = typeof choice["name"] === "string"
      ? choice["name"]
      : isRecord(choice["function"]) && typeof choice["function"]["name"] === "string"
      ? choice["function"]["name"]
      : undefined
    if (named !== undefined) return { _tag: "Named", name: named }
  }
  return auto
}

/**
 * The function to call, if the model calls one. `lastRole` is the role of the conversation's
 * last message (`"tool"` for a function's result).
 */
export const chooseTool = (
  tools: ReadonlyArray<FunctionTool>,
  choice: ToolChoice,
  lastRole: string | undefined
): FunctionTool | undefined => {
  switch (choice._tag) {
    case "None":
      return undefined
    case "Named":
      return tools.find((tool) => tool.name === choice.name)
    case "Required":
      return tools[0]
    case "Auto":
      return lastRole === "user" ? tools[0] : undefined
  }
}

const MAX_DEPTH = 8

/** Where a `$ref` such as `#/$defs/Person` points, inside `root`. */
const resolveRef = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = root
  for (const segment of ref.slice(2).split("/")) {
    if (!isRecord(node)) return undefined
    node = node[segment.replace(/~1/g, "/").replace(/~0/g, "~")]
  }
  return node
}

const numberOf = (schema: Readonly<Record<string, unknown>>, integer: boolean): number => {
  const num = (key: string) => (typeof schema[key] === "number" ? schema[key] : undefined)
  const lower = num("minimum") ?? (num("exclusiveMinimum") === undefined ? undefined : num("exclusiveMinimum")! + 1)
  const upper = num("maximum") ?? (num("exclusiveMaximum") === undefined ? undefined : num("exclusiveMaximum")! - 1)
  const wanted = lower ?? (upper === undefined ? 1 : Math.min(1, upper))
  return integer ? Math.ceil(wanted) : wanted
}

const stringOf = (schema: Readonly<Record<string, unknown>>, words: string): string => {
  const min = typeof schema["minLength"] === "number" ? schema["minLength"] : 0
  const max = typeof schema["maxLength"] === "number" ? schema["maxLength"] : Infinity
  const padded = words.length >= min ? words : words.padEnd(min, ".")
  return padded.slice(0, max)
}

/**
 * A JSON value that fits `schema` (the JSON Schema subset that tool parameters and
 * structured outputs use: `type`, `properties`, `items`, `enum`, `const`, `anyOf`/`oneOf`,
 * `$ref` into the same document, numeric and length bounds). `words` fill the strings.
 */
export const valueOf = (schema: unknown, words: string, root: unknown = schema, depth = 0): unknown => {
  if (!isRecord(schema) || depth > MAX_DEPTH) return null
  if (typeof schema["$ref"] === "string") return valueOf(resolveRef(root, schema["$ref"]), words, root, depth + 1)
  if ("const" in schema) return schema["const"]
  if (Array.isArray(schema["enum"]) && schema["enum"].length > 0) return schema["enum"][0]
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const options = schema[key]
    if (Array.isArray(options) && options.length > 0) {
      const chosen = options.find((option) => !(isRecord(option) && option["type"] === "null")) ?? options[0]
      return valueOf(chosen, words, root, depth + 1)
    }
  }
  const declared = schema["type"]
  const type = Array.isArray(declared) ? declared.find((t) => t !== "null") ?? declared[0] : declared
  switch (type) {
    case "string":
      return stringOf(schema, words)
    case "integer":
      return numberOf(schema, true)
    case "number":
      return numberOf(schema, false)
    case "boolean":
      return true
    case "null":
      return null
    case "array": {
      const count = typeof schema["minItems"] === "number" ? Math.max(1, schema["minItems"]) : 1
      return Array.from({ length: count }, () => valueOf(schema["items"], words, root, depth + 1))
    }
    default: {
      const properties = isRecord(schema["properties"]) ? schema["properties"] : {}
      return Object.fromEntries(Object.entries(properties).map(([key, property]) => [key, valueOf(property, words, root, depth + 1)]))
    }
  }
}
