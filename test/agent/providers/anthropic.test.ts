/** What the Anthropic provider puts on the wire: tools, system, tool_use / tool_result round trips. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { anthropicMessages, createAnthropicProvider } from "../../../src/agent/providers/anthropic.ts";
import type { ChatMessage } from "../../../src/agent/providers/types.ts";
import { startAnthropicServer } from "../../helpers/model-servers.ts";

const READ_TOOL = { name: "read", description: "Read a file in the workspace.", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } };

const HISTORY: ChatMessage[] = [
  { role: "user", text: "Summarise my inbox." },
  {
    role: "assistant",
    text: "Let me read it.",
    toolCalls: [
      { id: "toolu_1", name: "read", input: { path: "inbox/0001.eml" } },
      { id: "toolu_2", name: "read", input: undefined, inputError: "Unexpected end of JSON input" },
    ],
  },
  {
    role: "tool",
    results: [
      { callId: "toolu_1", name: "read", content: "From: alice@example.com\nHi!", isError: false },
      { callId: "toolu_2", name: "read", content: "ERROR: the arguments were not valid JSON", isError: true },
    ],
  },
];

test("anthropic: tools go out with input_schema, the system prompt as `system`, max_tokens and stream", async (t) => {
  const server = await startAnthropicServer({ steps: [{ text: "Hi." }] });
  t.after(() => server.close());
  const provider = createAnthropicProvider({ name: "anthropic", baseURL: server.url, apiKey: "sk-ant-test", maxRetries: 0, timeoutMs: 5000 });
  await provider.complete({ model: "claude-test", system: "Be brief.", messages: [{ role: "user", text: "Hello" }], tools: [READ_TOOL], maxOutputTokens: 1234 });
  assert.equal(server.requests[0]?.path, "/v1/messages");
  assert.deepEqual(server.requests[0].body, {
    model: "claude-test",
    max_tokens: 1234,
    stream: true,
    system: "Be brief.",
    messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
    tools: [{ name: "read", description: "Read a file in the workspace.", input_schema: READ_TOOL.parameters }],
  });
});

test("anthropic: assistant tool calls go back as tool_use blocks and results as one user turn of tool_result blocks with is_error", async (t) => {
  const server = await startAnthropicServer({ steps: [{ text: "Alice says hi." }] });
  t.after(() => server.close());
  const provider = createAnthropicProvider({ name: "anthropic", baseURL: server.url, apiKey: "sk-ant-test", maxRetries: 0, timeoutMs: 5000 });
  const res = await provider.complete({ model: "claude-test", system: "", messages: HISTORY, tools: [], maxOutputTokens: 100 });
  assert.equal(res.text, "Alice says hi.");
  const body = server.requests[0]?.body as Record<string, unknown>;
  assert.equal(body.system, undefined, "an empty system prompt is left out");
  assert.equal(body.tools, undefined, "no tools, no tools field");
  assert.deepEqual(body.messages, [
    { role: "user", content: [{ type: "text", text: "Summarise my inbox." }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Let me read it." },
        { type: "tool_use", id: "toolu_1", name: "read", input: { path: "inbox/0001.eml" } },
        // A call whose arguments were broken still has to be answered; it goes back with empty input.
        { type: "tool_use", id: "toolu_2", name: "read", input: {} },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_1", content: "From: alice@example.com\nHi!", is_error: false },
        { type: "tool_result", tool_use_id: "toolu_2", content: "ERROR: the arguments were not valid JSON", is_error: true },
      ],
    },
  ]);
});

test("anthropic: a user message after tool results joins the same user turn; empty text is dropped", () => {
  const messages = anthropicMessages([
    ...HISTORY,
    { role: "user", text: "Also check the calendar." },
    { role: "assistant", text: "", toolCalls: [] },
    { role: "user", text: "" },
  ]);
  assert.equal(messages.length, 3);
  const last = messages[2];
  assert.equal(last?.role, "user");
  assert.deepEqual(
    (last.content as { type: string }[]).map((b) => b.type),
    ["tool_result", "tool_result", "text"],
  );
});

test("anthropic: a tool call with no argument fragments gets {} input", async (t) => {
  // The server streams "{}" for an empty input; a real model may send no input_json_delta at all for a no-argument tool.
  const server = await startAnthropicServer({ steps: [{ tool_calls: [{ name: "list", raw_input: "" }] }] });
  t.after(() => server.close());
  const provider = createAnthropicProvider({ name: "anthropic", baseURL: server.url, apiKey: "k", maxRetries: 0, timeoutMs: 5000 });
  const res = await provider.complete({ model: "m", system: "", messages: [{ role: "user", text: "go" }], tools: [], maxOutputTokens: 10 });
  assert.deepEqual(res.toolCalls.map((c) => [c.name, c.input, c.inputError]), [["list", {}, undefined]]);
});
