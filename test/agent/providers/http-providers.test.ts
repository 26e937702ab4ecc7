/**
 * Behaviour both HTTP providers share, run against each protocol's local
 * test server: streaming, tool-call assembly, retries, failures, aborts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAnthropicProvider } from "../../../src/agent/providers/anthropic.ts";
import type { HttpProviderSettings } from "../../../src/agent/providers/common.ts";
import { createOpenAIProvider } from "../../../src/agent/providers/openai.ts";
import type { ModelProvider, ModelRequest } from "../../../src/agent/providers/types.ts";
import { AegisError } from "../../../src/errors.ts";
import { startAnthropicServer, startOpenAIServer, type ModelServer, type ModelServerOptions } from "../../helpers/model-servers.ts";

const KEY = "sk-test-0123456789abcdef";

const PROTOCOLS = [
  { protocol: "anthropic", start: startAnthropicServer, create: createAnthropicProvider },
  { protocol: "openai", start: startOpenAIServer, create: createOpenAIProvider },
] as const;

const READ_TOOL = { name: "read", description: "Read a file in the workspace.", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } };

function request(extra: Partial<ModelRequest> = {}): ModelRequest {
  return { model: "test-model", system: "You are a test.", messages: [{ role: "user", text: "Hello" }], tools: [READ_TOOL], maxOutputTokens: 256, ...extra };
}

function modelErrorDetails(err: unknown): Record<string, unknown> {
  assert.ok(err instanceof AegisError, `expected an AegisError, got ${String(err)}`);
  assert.equal(err.code, "MODEL_ERROR", err.message);
  assert.ok(!err.message.includes(KEY) && !JSON.stringify(err.toJSON()).includes(KEY), "the API key must not appear in an error");
  return err.details ?? {};
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to fail");
}

for (const { protocol, start, create } of PROTOCOLS) {
  async function setup(t: { after: (fn: () => Promise<void>) => void }, options: ModelServerOptions, settings: Partial<HttpProviderSettings> = {}): Promise<{ server: ModelServer; provider: ModelProvider }> {
    const server = await start(options);
    t.after(() => server.close());
    const provider = create({ name: protocol, baseURL: server.url, apiKey: KEY, maxRetries: 0, timeoutMs: 5000, ...settings });
    return { server, provider };
  }

  test(`${protocol}: a tool-call turn comes back as text, tool calls, tool_use and usage, sent with the store's key`, async (t) => {
    const { server, provider } = await setup(t, {
      steps: [{ text: "Let me read the inbox.", tool_calls: [{ id: "call_a", name: "read", input: { path: "inbox/0001.eml" } }], usage: { input_tokens: 321, output_tokens: 45 } }],
      model: "served-model-1",
    });
    const res = await provider.complete(request());
    assert.equal(res.text, "Let me read the inbox.");
    assert.deepEqual(res.toolCalls, [{ id: "call_a", name: "read", input: { path: "inbox/0001.eml" } }]);
    assert.equal(res.stopReason, "tool_use");
    assert.deepEqual(res.usage, { inputTokens: 321, outputTokens: 45 });
    assert.equal(res.model, "served-model-1");
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.headers.authorization, `Bearer ${KEY}`);
    assert.equal(server.requests[0].headers["x-api-key"], undefined);
  });

  test(`${protocol}: streamed text reaches onTextDelta piece by piece, in order`, async (t) => {
    const text = "The quick brown fox jumps over the lazy dog, then naps under the old oak tree.";
    const { provider } = await setup(t, { steps: [{ text }], textChunk: 2 });
    const deltas: string[] = [];
    const res = await provider.complete(request({ onTextDelta: (d) => deltas.push(d) }));
    assert.ok(deltas.length >= text.length / 2, `expected many deltas, got ${String(deltas.length)}`);
    assert.equal(deltas.join(""), text);
    assert.equal(res.text, text);
    assert.equal(res.stopReason, "end_turn");
  });

  test(`${protocol}: tool input split into one-character fragments is assembled exactly, for several calls`, async (t) => {
    const input = { path: "notes/été – 2024.md", options: { lines: [1, 2, 3], quote: 'say "hi"\n' }, empty: {} };
    const { provider } = await setup(t, {
      steps: [{ text: "", tool_calls: [{ name: "read", input }, { name: "read", input: { path: "b.txt" } }, { name: "list" }] }],
      jsonChunk: 1,
    });
    const res = await provider.complete(request());
    assert.equal(res.text, "");
    assert.deepEqual(
      res.toolCalls.map((c) => [c.name, c.input, c.inputError]),
      [
        ["read", input, undefined],
        ["read", { path: "b.txt" }, undefined],
        ["list", {}, undefined],
      ],
    );
    assert.equal(new Set(res.toolCalls.map((c) => c.id)).size, 3, "each call keeps its own id");
  });

  test(`${protocol}: tool-call arguments that are not valid JSON become inputError, not a crash`, async (t) => {
    const { provider } = await setup(t, { steps: [{ tool_calls: [{ name: "read", raw_input: '{"path": "a.txt"' }, { name: "read", input: { path: "ok.txt" } }] }] });
    const res = await provider.complete(request());
    const [bad, good] = res.toolCalls;
    assert.equal(bad?.input, undefined);
    assert.match(bad?.inputError ?? "", /JSON|Expected|Unexpected|Unterminated/i);
    assert.match(bad?.inputError ?? "", /a\.txt/, "the error shows what the model sent");
    assert.deepEqual(good?.input, { path: "ok.txt" });
    assert.equal(good.inputError, undefined);
  });

  test(`${protocol}: a 429 with retry-after-ms is retried after the short wait, then succeeds`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ fail: "status", status: 429, retryAfterMs: "10" }, { text: "Fine now." }] }, { maxRetries: 2 });
    const t0 = performance.now();
    const res = await provider.complete(request());
    const elapsed = performance.now() - t0;
    assert.equal(res.text, "Fine now.");
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]?.headers["x-stainless-retry-count"], "1");
    // The SDK's own backoff starts at 0.5 s; finishing well under it shows retry-after-ms was honoured.
    assert.ok(elapsed < 350, `took ${elapsed.toFixed(0)} ms`);
  });

  test(`${protocol}: a 429 with retry-after in seconds is honoured too`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ fail: "status", status: 429, retryAfter: "0.02" }, { text: "ok" }] }, { maxRetries: 1 });
    assert.equal((await provider.complete(request())).text, "ok");
    assert.equal(server.requests.length, 2);
  });

  test(`${protocol}: a retry-after of an hour is not honoured (the SDK's short backoff is used instead)`, { timeout: 10_000 }, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ fail: "status", status: 503, retryAfter: "3600" }, { text: "back" }] }, { maxRetries: 1 });
    const t0 = performance.now();
    assert.equal((await provider.complete(request())).text, "back");
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(server.requests.length, 2);
  });

  test(`${protocol}: 500 on every attempt ends in MODEL_ERROR with the status, after max_retries`, async (t) => {
    const fail = { fail: "status", status: 500, retryAfterMs: "1", message: "the backend fell over" } as const;
    const { server, provider } = await setup(t, { steps: [fail, fail, fail, { text: "never reached" }] }, { maxRetries: 2 });
    const err = await rejection(provider.complete(request()));
    const details = modelErrorDetails(err);
    assert.match((err as Error).message, new RegExp(`^${protocol} answered 500: the backend fell over$`));
    assert.equal(details.status, 500);
    assert.equal(details.retryable, true);
    assert.equal(details.provider, protocol);
    assert.equal(server.requests.length, 3);
  });

  test(`${protocol}: a 400 is not retried and is not retryable`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ fail: "status", status: 400, message: "max_tokens: too large" }, { text: "never" }] }, { maxRetries: 2 });
    const details = modelErrorDetails(await rejection(provider.complete(request())));
    assert.equal(details.status, 400);
    assert.equal(details.retryable, false);
    assert.equal(server.requests.length, 1);
  });

  test(`${protocol}: a response that is not JSON is a MODEL_ERROR, not a crash`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "malformed" }] });
    const err = await rejection(provider.complete(request()));
    assert.equal(modelErrorDetails(err).reason, "malformed");
    assert.match((err as Error).message, /malformed response/);
  });

  test(`${protocol}: a stream cut mid-way is a MODEL_ERROR after the text that did arrive`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "cut", afterEvents: 4, turn: { text: "This sentence will be cut off part way through." } }] });
    const deltas: string[] = [];
    const err = await rejection(provider.complete(request({ onTextDelta: (d) => deltas.push(d) })));
    const details = modelErrorDetails(err);
    assert.equal(details.reason, "truncated");
    assert.equal(details.retryable, true);
    assert.match((err as Error).message, /broke off mid-stream/);
    assert.ok(deltas.length > 0 && deltas.join("").length < "This sentence will be cut off part way through.".length);
  });

  test(`${protocol}: a stream that ends cleanly but early is a MODEL_ERROR, not half an answer`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "truncate", afterEvents: 5, turn: { text: "An answer that stops before its last events." } }] });
    const err = await rejection(provider.complete(request()));
    assert.equal(modelErrorDetails(err).reason, "truncated");
  });

  test(`${protocol}: an error the server sends inside the stream is a MODEL_ERROR with its message`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "stream_error", afterEvents: 4, errorType: "overloaded_error", message: "Overloaded, try later" }] });
    const err = await rejection(provider.complete(request()));
    assert.equal(modelErrorDetails(err).reason, "stream_error");
    assert.match((err as Error).message, /reported an error mid-answer: .*Overloaded, try later/);
  });

  test(`${protocol}: aborting while waiting for the server cancels the request at once`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ fail: "hang" }] }, { maxRetries: 2 });
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 50);
    const t0 = performance.now();
    const err = await rejection(provider.complete(request({ signal: controller.signal })));
    assert.equal(modelErrorDetails(err).reason, "cancelled");
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(server.requests.length, 1, "a cancelled request is not retried");
  });

  test(`${protocol}: aborting mid-stream cancels instead of returning half an answer`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "stall", afterEvents: 4, turn: { text: "A long answer that stalls after a few words." } }] });
    const controller = new AbortController();
    const err = await rejection(
      provider.complete(
        request({
          signal: controller.signal,
          onTextDelta: () => {
            controller.abort();
          },
        }),
      ),
    );
    assert.equal(modelErrorDetails(err).reason, "cancelled");
  });

  test(`${protocol}: an already-aborted signal sends nothing`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ text: "unused" }] });
    const err = await rejection(provider.complete(request({ signal: AbortSignal.abort() })));
    assert.equal(modelErrorDetails(err).reason, "cancelled");
    assert.equal(server.requests.length, 0);
  });

  test(`${protocol}: a server that never answers times out per the configured timeout`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "hang" }] }, { timeoutMs: 100 });
    const err = await rejection(provider.complete(request()));
    const details = modelErrorDetails(err);
    assert.equal(details.reason, "timeout");
    assert.match((err as Error).message, /did not answer within 0\.1s/);
  });

  test(`${protocol}: a stream that goes silent after it started times out too`, async (t) => {
    const { provider } = await setup(t, { steps: [{ fail: "stall", afterEvents: 4 }] }, { timeoutMs: 150 });
    const t0 = performance.now();
    const err = await rejection(provider.complete(request()));
    assert.equal(modelErrorDetails(err).reason, "timeout");
    assert.match((err as Error).message, /stopped sending mid-answer: nothing arrived for 0\.15s/);
    assert.ok(performance.now() - t0 < 2000);
  });

  test(`${protocol}: a server that is not listening is a connection MODEL_ERROR naming the URL`, async (t) => {
    const { server, provider } = await setup(t, {});
    await server.close();
    const err = await rejection(provider.complete(request()));
    assert.equal(modelErrorDetails(err).reason, "connection");
    assert.match((err as Error).message, new RegExp(`could not be reached at ${server.origin.replace(/[.]/g, "\\.")}`));
  });

  test(`${protocol}: stop reasons map to max_tokens, refusal and other`, async (t) => {
    const { provider } = await setup(t, { steps: [{ text: "cut sh", stop_reason: "max_tokens" }, { text: "I can't help with that.", stop_reason: "refusal" }, { text: "hm", stop_reason: "other" }] });
    assert.equal((await provider.complete(request())).stopReason, "max_tokens");
    assert.equal((await provider.complete(request())).stopReason, "refusal");
    assert.equal((await provider.complete(request())).stopReason, "other");
  });

  test(`${protocol}: a keyless provider sends no Authorization header at all`, async (t) => {
    const { server, provider } = await setup(t, { steps: [{ text: "local" }] }, { apiKey: undefined });
    assert.equal((await provider.complete(request())).text, "local");
    assert.equal(server.requests[0]?.headers.authorization, undefined);
    assert.equal(server.requests[0]?.headers["x-api-key"], undefined);
  });

  test(`${protocol}: the label names the protocol and the URL, without credentials or query`, () => {
    const provider = create({ name: "gw", baseURL: "https://user:pw@gateway.example/api?key=abc", apiKey: KEY, maxRetries: 0, timeoutMs: 1000 });
    assert.equal(provider.scripted, false);
    assert.equal(provider.name, "gw");
    assert.match(provider.label, /gateway\.example\/api/);
    assert.doesNotMatch(provider.label, /user|pw|abc/);
  });
}
