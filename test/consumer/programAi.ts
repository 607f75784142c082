/**
 * The consumer app again, once it has installed `@effect/ai` (the optional peer of
 * `effect-grok/ai`, at the lowest version effect-grok's range accepts): a generateText and a
 * tool-call round trip through `GrokLanguageModel`, against the simulator, a 503 retried on
 * the way. It exits 0 only when every check holds.
 */
import { LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { GrokClient } from "effect-grok"
import { GrokLanguageModel } from "effect-grok/ai"
import { GrokSimulator } from "effect-grok/simulator"

const Weather = Tool.make("weather", { parameters: { city: Schema.String }, success: Schema.Struct({ celsius: Schema.Number }) })
const Tools = Toolkit.make(Weather)
const ToolsLive = Tools.toLayer({ weather: () => Effect.succeed({ celsius: 21 }) })

const Simulator = GrokSimulator.layer({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] })

const Model = GrokLanguageModel.model("grok-4").pipe(
  Layer.provide(Layer.unwrapEffect(
    Effect.map(GrokSimulator.GrokSimulator, (sim) => GrokClient.layer({ apiKey: "consumer-key", baseUrl: sim.url }))
  )),
  Layer.provide(FetchHttpClient.layer),
  Layer.provideMerge(Simulator)
)

const program = Effect.gen(function*() {
  const sim = yield* GrokSimulator.GrokSimulator
  const hello = yield* LanguageModel.generateText({ prompt: "Say hi" })
  if (hello.text !== "Simulated reply to \"Say hi\".") return yield* Effect.dieMessage(`unexpected reply: ${hello.text}`)
  const prompt = Prompt.make("Weather in Lisbon?")
  const call = yield* LanguageModel.generateText({ prompt, toolkit: Tools })
  const answer = yield* LanguageModel.generateText({ prompt: Prompt.merge(prompt, Prompt.fromResponseParts(call.content)), toolkit: Tools })
  if (!answer.text.includes("{\"celsius\":21}")) return yield* Effect.dieMessage(`the tool result did not come back: ${answer.text}`)
  const statuses = (yield* sim.log).map((entry) => entry.status)
  if (statuses.join(",") !== "503,200,200,200") return yield* Effect.dieMessage(`unexpected requests: ${statuses.join(",")}`)
  yield* Effect.log(`consumer check (effect-grok/ai): "${answer.text}", a 503 retried under @effect/ai`)
})

Effect.runPromise(program.pipe(Effect.provide(ToolsLive), Effect.provide(Model))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
