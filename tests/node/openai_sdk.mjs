// The openai package with its defaults, only the base URL pointed at the gateway: chat, stream, models.
import OpenAI from "openai";
import { gatewayUrl, headers, model, prompt, run } from "./_gateway.mjs";

const client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: "sk-test", maxRetries: 0, defaultHeaders: headers });
const messages = [{ role: "user", content: prompt }];

await run({
  async chat() {
    const completion = await client.chat.completions.create({ model, messages });
    return { text: completion.choices[0].message.content, usage: completion.usage ?? null };
  },
  async stream() {
    const stream = await client.chat.completions.create({ model, messages, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return {
      text: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
      chunks: chunks.map((c) => ({ choices: c.choices.length, usage: c.usage ?? null })),
    };
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
  },
});
