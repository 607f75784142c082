/**
 * One chat call on the `openai` SDK against `process.argv[2]`, its answer printed as one JSON
 * line: the yardstick `bench/startup.ts` holds `effect-grok chat --json` against, a script a
 * user would write for the same job.
 *
 * @since 0.2.0
 */
import OpenAI from "openai"

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "bench-key" })
const completion = await client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "Say hi" }] })
process.stdout.write(`${JSON.stringify({ ok: true, model: completion.model, content: completion.choices[0]?.message.content ?? "" })}\n`)
