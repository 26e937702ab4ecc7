/** What the OpenAI-compatible provider puts on the wire, and how it reads the chunk stream. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAIProvider, openAIMessages } from "../../../src/agent/providers/openai.ts";
import type { ChatMessage } from "../../../src/agent/providers/types.ts";
import { startOpenAIServer } from "../../helpers/model-servers.ts";

const READ_TOOL = { name: "read", description: "Read a file in the workspace.", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } };

const HISTORY: ChatMessage[] = [
  { role: "user", text: "Summarise my inbox." },
  {
    role: "assistant",
    text: "",
    toolCalls: [
      { id: "call_1", name: "read", input: { path: "inbox/0001.eml" } },
      { id: "call_2", name: "read", input: undefined, inputError: "Unexpected end of JSON input" },
    ],
  },
  {
    role: "tool",
    results: [
      { callId: "call_1", name: "read", content: "From: alice@example.com\nHi!", isError: false },
      { callId: "call_2", name: "read", content: "ERROR: the arguments were not valid JSON", isError: true },
    ],
  },
];

test("openai: tools go out as type:function, the system prompt first, max_tokens, stream with usage", async (t) => {
  const server = await startOpenAIServer({ steps: [{ text: "Hi." }] });
  t.after(() => server.close());
  const provider = createOpenAIProvider({ name: "ollama", baseURL: server.url, apiKey: undefined, maxRetries: 0, timeoutMs: 5000 });
  await provider.complete({ model: "llama3.1", system: "Be brief.", messages: [{ role: "user", text: "Hello" }], tools: [READ_TOOL], maxOutputTokens: 1234 });
  assert.equal(server.requests[0]?.path, "/v1/chat/completions");
  assert.deepEqual(server.requests[0].body, {
    model: "llama3.1",
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 1234,
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello" },
    ],
    tools: [{ type: "function", function: { name: "read", description: "Read a file in the workspace.", parameters: READ_TOOL.parameters } }],
  });
});

test("openai: assistant tool calls go back as tool_calls with JSON arguments, each result as a role:tool message with tool_call_id", async (t) => {
  const server = await startOpenAIServer({ steps: [{ text: "Alice says hi." }] });
  t.after(() => server.close());
  const provider = createOpenAIProvider({ name: "openai", baseURL: server.url, apiKey: "sk-test", maxRetries: 0, timeoutMs: 5000 });
  const res = await provider.complete({ model: "gpt-test", system: "", messages: HISTORY, tools: [], maxOutputTokens: 100 });
  assert.equal(res.text, "Alice says hi.");
  const body = server.requests[0]?.body as Record<string, unknown>;
  assert.equal(body.tools, undefined, "no tools, no tools field");
  assert.deepEqual(body.messages, [
    { role: "user", content: "Summarise my inbox." },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "read", arguments: '{"path":"inbox/0001.eml"}' } },
        { id: "call_2", type: "function", function: { name: "read", arguments: "{}" } },
      ],
    },
    { role: "tool", tool_call_id: "call_1", content: "From: alice@example.com\nHi!" },
    { role: "tool", tool_call_id: "call_2", content: "ERROR: the arguments were not valid JSON" },
  ]);
});

test("openai: fragments of several tool calls interleaved by index are assembled per index", async (t) => {
  const server = await startOpenAIServer({
    steps: [{ tool_calls: [{ name: "read", input: { path: "first/file.txt" } }, { name: "read", input: { path: "second/other.txt", lines: 20 } }] }],
    interleaveToolCalls: true,
    jsonChunk: 2,
  });
  t.after(() => server.close());
  const provider = createOpenAIProvider({ name: "vllm", baseURL: server.url, apiKey: undefined, maxRetries: 0, timeoutMs: 5000 });
  const res = await provider.complete({ model: "m", system: "", messages: [{ role: "user", text: "go" }], tools: [READ_TOOL], maxOutputTokens: 10 });
  assert.deepEqual(
    res.toolCalls.map((c) => [c.id, c.input]),
    [
      ["call_test_0_0", { path: "first/file.txt" }],
      ["call_test_0_1", { path: "second/other.txt", lines: 20 }],
    ],
  );
});

test("openai: finish_reason stop with tool calls (as some local servers send) still means tool_use", async (t) => {
  const server = await startOpenAIServer({ steps: [{ tool_calls: [{ name: "read", input: { path: "a" } }], stop_reason: "end_turn" }] });
  t.after(() => server.close());
  const provider = createOpenAIProvider({ name: "ollama", baseURL: server.url, apiKey: undefined, maxRetries: 0, timeoutMs: 5000 });
  const res = await provider.complete({ model: "m", system: "", messages: [{ role: "user", text: "go" }], tools: [READ_TOOL], maxOutputTokens: 10 });
  assert.equal(res.stopReason, "tool_use");
});

test("openai: an empty assistant message is left out of the history", () => {
  const messages = openAIMessages("sys", [
    { role: "user", text: "hi" },
    { role: "assistant", text: "", toolCalls: [] },
    { role: "user", text: "again" },
  ]);
  assert.deepEqual(
    messages.map((m) => m.role),
    ["system", "user", "user"],
  );
});
