// The Vercel AI SDK (ai + @ai-sdk/openai) against the gateway: chat-completions model whole and streamed,
// and the provider's default model (the Responses API) streamed.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import { gatewayUrl, headers, model, prompt, run } from "./_gateway.mjs";

const openai = createOpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: "sk-test", headers });

async function streamed(languageModel) {
  const result = streamText({ model: languageModel, prompt, maxRetries: 0 });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  return { text, usage: await result.usage };
}

await run({
  async generate() {
    const result = await generateText({ model: openai.chat(model), prompt, maxRetries: 0 });
    return { text: result.text, usage: result.usage };
  },
  stream: () => streamed(openai.chat(model)),
  responses: () => streamed(openai(model)),
});
