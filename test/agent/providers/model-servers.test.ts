/**
 * The protocol test servers themselves: their non-streaming JSON answers
 * are what the real SDKs parse, they enforce a key when asked, and they say
 * when their queue is empty. (Streaming is exercised by the provider tests.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createAnthropicProvider } from "../../../src/agent/providers/anthropic.ts";
import { createOpenAIProvider } from "../../../src/agent/providers/openai.ts";
import type { ModelRequest } from "../../../src/agent/providers/types.ts";
import { isAegis } from "../../helpers/errors.ts";
import { startAnthropicServer, startOpenAIServer } from "../../helpers/model-servers.ts";

const REQUEST: ModelRequest = { model: "m", system: "", messages: [{ role: "user", text: "hi" }], tools: [], maxOutputTokens: 64 };
const TURN = { text: "Reading.", tool_calls: [{ id: "c1", name: "read", input: { path: "a.txt" } }], usage: { input_tokens: 5, output_tokens: 6 } };

test("anthropic server: a non-streaming request gets a Message the SDK parses, with tool_use content", async (t) => {
  const server = await startAnthropicServer({ steps: [TURN] });
  t.after(() => server.close());
  const client = new Anthropic({ apiKey: "k", authToken: null, baseURL: server.url, maxRetries: 0, logLevel: "off" });
  const msg = await client.messages.create({ model: "claude-test", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
  assert.equal(msg.model, "claude-test");
  assert.equal(msg.stop_reason, "tool_use");
  assert.deepEqual(msg.content, [
    { type: "text", text: "Reading." },
    { type: "tool_use", id: "c1", name: "read", input: { path: "a.txt" } },
  ]);
  assert.deepEqual(msg.usage, { input_tokens: 5, output_tokens: 6 });
});

test("openai server: a non-streaming request gets a ChatCompletion the SDK parses, with tool_calls", async (t) => {
  const server = await startOpenAIServer({ steps: [TURN] });
  t.after(() => server.close());
  const client = new OpenAI({ apiKey: "k", organization: null, project: null, baseURL: server.url, maxRetries: 0, logLevel: "off" });
  const res = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "hi" }] });
  const choice = res.choices[0];
  assert.equal(choice?.finish_reason, "tool_calls");
  assert.equal(choice.message.content, "Reading.");
  assert.deepEqual(choice.message.tool_calls, [{ id: "c1", type: "function", function: { name: "read", arguments: '{"path":"a.txt"}' } }]);
  assert.equal(res.usage?.prompt_tokens, 5);
});

test("servers with apiKey set answer 401 to a wrong key, and the provider does not retry it", async (t) => {
  for (const [start, create] of [
    [startAnthropicServer, createAnthropicProvider],
    [startOpenAIServer, createOpenAIProvider],
  ] as const) {
    const server = await start({ steps: [{ text: "secret" }], apiKey: "right-key" });
    t.after(() => server.close());
    const wrong = create({ name: "p", baseURL: server.url, apiKey: "wrong-key", maxRetries: 2, timeoutMs: 5000 });
    await assert.rejects(wrong.complete(REQUEST), isAegis("MODEL_ERROR", /^p answered 401: /));
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.answeredWith, "unauthorized");
    const right = create({ name: "p", baseURL: server.url, apiKey: "right-key", maxRetries: 0, timeoutMs: 5000 });
    assert.equal((await right.complete(REQUEST)).text, "secret");
  }
});

test("servers answer a clear text when their queue is empty, and 404 elsewhere", async (t) => {
  const server = await startOpenAIServer();
  t.after(() => server.close());
  const provider = createOpenAIProvider({ name: "p", baseURL: server.url, apiKey: undefined, maxRetries: 0, timeoutMs: 5000 });
  assert.match((await provider.complete(REQUEST)).text, /no more turns queued/);
  assert.equal(server.requests[0]?.answeredWith, "queue-empty");
  const res = await fetch(`${server.origin}/v1/models`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  server.push({ text: "pushed later" });
  assert.equal(server.pending(), 1);
  assert.equal((await provider.complete(REQUEST)).text, "pushed later");
  assert.equal(server.pending(), 0);
});
