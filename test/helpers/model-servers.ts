/**
 * Local HTTP servers that speak the two model protocols, for tests: a fake
 * Anthropic Messages API and a fake OpenAI-compatible Chat Completions
 * server, on 127.0.0.1 with a free port. Each answers from a queue of
 * steps: a turn in the scripted provider's shape (so one script drives the
 * scripted provider and both servers alike) or an injected failure. Every
 * request is recorded (headers and parsed body) so a test can check what
 * the SDK really sent.
 *
 * ```ts
 * const server = await startAnthropicServer({ steps: [
 *   { fail: "status", status: 429, retryAfterMs: "10" },
 *   { text: "Let me read it.", tool_calls: [{ name: "read", input: { path: "a.txt" } }] },
 *   { text: "Done." },
 * ] });
 * t.after(() => server.close());
 * // config: agent.providers.anthropic.base_url = server.url
 * server.requests[0]?.headers.authorization; // "Bearer <key from the store>"
 * ```
 *
 * Streaming (`stream: true`) follows each protocol's real event sequence:
 * Anthropic sends message_start, ping, content_block_start / delta
 * (text_delta | input_json_delta) / stop per block, message_delta with
 * stop_reason and usage, message_stop; OpenAI sends chunks with
 * `delta.content` and `delta.tool_calls[index]` fragments, a chunk with
 * finish_reason, a usage chunk when `stream_options.include_usage`, then
 * `data: [DONE]`. Text is split into `textChunk`-character deltas and tool
 * arguments into `jsonChunk`-character fragments, so assembly is exercised.
 * When the queue is empty the servers answer a text saying so.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseTurns, scriptedStopReason, type ScriptedTurn, type ScriptedTurnInput } from "../../src/agent/providers/scripted.ts";
import type { StopReason } from "../../src/agent/providers/types.ts";

/** A failure the server injects instead of answering. */
export type InjectedFailure =
  /** An HTTP error with the protocol's error body; `retryAfter` (seconds) / `retryAfterMs` set those headers. */
  | { readonly fail: "status"; readonly status: number; readonly message?: string; readonly retryAfter?: string; readonly retryAfterMs?: string; readonly headers?: Readonly<Record<string, string>> }
  /** 200 with a body that is not JSON: a truncated JSON body, or for a stream an event whose data is not JSON. */
  | { readonly fail: "malformed" }
  /** Starts answering `turn` (default a text), sends `afterEvents` events (or half the JSON body), then destroys the connection. */
  | { readonly fail: "cut"; readonly afterEvents?: number; readonly turn?: ScriptedTurnInput }
  /** Like cut, but ends the response cleanly: a stream that stops before its last events. */
  | { readonly fail: "truncate"; readonly afterEvents?: number; readonly turn?: ScriptedTurnInput }
  /** Starts answering, sends `afterEvents` events, then goes silent until the client gives up or the server closes. */
  | { readonly fail: "stall"; readonly afterEvents?: number; readonly turn?: ScriptedTurnInput }
  /** Never sends response headers. */
  | { readonly fail: "hang" }
  /** Starts a stream, then sends the protocol's in-stream error (Anthropic `event: error`, OpenAI `data: {"error": …}`). */
  | { readonly fail: "stream_error"; readonly afterEvents?: number; readonly errorType?: string; readonly message?: string };

export type ServerStep = ScriptedTurnInput | InjectedFailure;

export interface ModelServerOptions {
  readonly steps?: readonly ServerStep[];
  /** The model name the server reports; default the one the request named. */
  readonly model?: string;
  /** Characters per streamed text delta (default 3). */
  readonly textChunk?: number;
  /** Characters per streamed tool-argument fragment (default 4). */
  readonly jsonChunk?: number;
  /** OpenAI only: stream the fragments of several tool calls interleaved (by index), as some servers do. */
  readonly interleaveToolCalls?: boolean;
  /** When set, a request must carry `Authorization: Bearer <apiKey>` (or `x-api-key: <apiKey>`); otherwise 401. */
  readonly apiKey?: string;
}

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/messages`. */
  readonly path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body (the raw text when it was not JSON). */
  readonly body: unknown;
  /** What the server did with it: a turn index, a failure kind, or `queue-empty` / `unauthorized` / `not-found`. */
  readonly answeredWith: string;
}

export interface ModelServer {
  /** The base URL to configure: Anthropic `http://127.0.0.1:PORT` (the SDK adds /v1/messages), OpenAI `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** Every request received, in order, including failed and refused ones. */
  readonly requests: RecordedRequest[];
  /** Appends steps to the queue. */
  push(...steps: ServerStep[]): void;
  /** Steps not yet used. */
  pending(): number;
  /** Stops the server and drops open connections (stalled and hanging ones too). */
  close(): Promise<void>;
}

type Protocol = "anthropic" | "openai";

/** A fake Anthropic Messages API: POST /v1/messages. */
export function startAnthropicServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  return startModelServer("anthropic", options);
}

/** A fake OpenAI-compatible server: POST /v1/chat/completions. */
export function startOpenAIServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  return startModelServer("openai", options);
}

function isFailure(step: ServerStep): step is InjectedFailure {
  return "fail" in step;
}

function turnOf(input: ScriptedTurnInput | undefined, fallback: string): ScriptedTurn {
  const [turn] = parseTurns([input ?? { text: fallback }], "test server turns");
  if (turn === undefined) throw new Error("unreachable: one turn in, one out");
  return turn;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function write(res: ServerResponse, data: string): Promise<void> {
  return new Promise((resolve) => {
    res.write(data, () => {
      resolve();
    });
  });
}

async function startModelServer(protocol: Protocol, options: ModelServerOptions): Promise<ModelServer> {
  const queue: ServerStep[] = [...(options.steps ?? [])];
  const requests: RecordedRequest[] = [];
  let turnCount = 0;
  const path = protocol === "anthropic" ? "/v1/messages" : "/v1/chat/completions";

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // A test server bug should fail the test that hit it, loudly, not hang it.
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`test server error: ${String(err)}`);
      } else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    let body: unknown = text;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // Recorded as text; answered 400 below.
    }
    const record = (answeredWith: string): void => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: headerRecord(req), body, answeredWith });
    };
    const url = req.url ?? "";
    if (req.method !== "POST" || url.split("?")[0] !== path) {
      record("not-found");
      sendError(res, 404, `no route ${req.method ?? ""} ${url}; this test server answers POST ${path}`);
      return;
    }
    if (options.apiKey !== undefined) {
      const auth = req.headers.authorization;
      const xKey = req.headers["x-api-key"];
      if (auth !== `Bearer ${options.apiKey}` && xKey !== options.apiKey) {
        record("unauthorized");
        sendError(res, 401, "invalid x-api-key / bearer token");
        return;
      }
    }
    if (typeof body !== "object" || body === null) {
      record("bad-request");
      sendError(res, 400, "the request body is not a JSON object");
      return;
    }
    const request = body as { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
    const stream = request.stream === true;
    const model = options.model ?? (typeof request.model === "string" ? request.model : "test-model");
    const step = queue.shift();
    if (step === undefined) {
      record("queue-empty");
      await answer(res, turnOf({ text: `[The ${protocol} test server has no more turns queued.]` }, ""), { stream, model, usage: request.stream_options?.include_usage === true });
      return;
    }
    if (!isFailure(step)) {
      const index = turnCount++;
      record(`turn ${String(index)}`);
      await answer(res, turnOf(step, ""), { stream, model, usage: request.stream_options?.include_usage === true, turnIndex: index });
      return;
    }
    record(step.fail);
    switch (step.fail) {
      case "status": {
        const headers: Record<string, string> = { ...(step.headers ?? {}) };
        if (step.retryAfter !== undefined) headers["retry-after"] = step.retryAfter;
        if (step.retryAfterMs !== undefined) headers["retry-after-ms"] = step.retryAfterMs;
        sendError(res, step.status, step.message ?? `injected ${String(step.status)}`, headers);
        return;
      }
      case "malformed":
        if (stream) {
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          const event = protocol === "anthropic" ? "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\n\n" : "data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\n\n";
          await write(res, event);
          res.end();
        } else {
          res.writeHead(200, { "content-type": "application/json" });
          res.end("{\"id\": \"broken");
        }
        return;
      case "hang":
        // Nothing is sent; the client's timeout or abort (or close()) ends it.
        return;
      case "stream_error": {
        const errorType = step.errorType ?? "overloaded_error";
        const message = step.message ?? "injected in-stream error";
        const turn = turnOf(undefined, "An answer interrupted by an error event.");
        const events = protocol === "anthropic" ? anthropicEvents(turn, model, 999) : openAIEvents(turn, model, 999, false);
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...requestIdHeader() });
        for (const event of events.slice(0, step.afterEvents ?? 3)) await write(res, event);
        await write(
          res,
          protocol === "anthropic"
            ? `event: error\ndata: ${JSON.stringify({ type: "error", error: { type: errorType, message } })}\n\n`
            : `data: ${JSON.stringify({ error: { message, type: errorType, param: null, code: null } })}\n\n`,
        );
        res.end();
        return;
      }
      case "cut":
      case "truncate":
      case "stall": {
        const turn = turnOf(step.turn, "This answer will not arrive in full: the connection is about to be cut.");
        await answer(res, turn, { stream, model, usage: true, stopAfter: step.afterEvents ?? 3, then: step.fail });
        return;
      }
    }
  }

  function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    const body =
      protocol === "anthropic"
        ? { type: "error", error: { type: anthropicErrorType(status), message }, request_id: `req_test_${randomBytes(4).toString("hex")}` }
        : { error: { message, type: status === 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error", param: null, code: null } };
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  interface AnswerOptions {
    readonly stream: boolean;
    readonly model: string;
    readonly usage: boolean;
    readonly turnIndex?: number;
    /** Stop after this many events (or half the JSON body), then: */
    readonly stopAfter?: number;
    readonly then?: "cut" | "truncate" | "stall";
  }

  async function answer(res: ServerResponse, turn: ScriptedTurn, o: AnswerOptions): Promise<void> {
    const turnIndex = o.turnIndex ?? 999;
    if (!o.stream) {
      const body = protocol === "anthropic" ? anthropicJson(turn, o.model, turnIndex) : openAIJson(turn, o.model, turnIndex);
      res.writeHead(200, { "content-type": "application/json", ...requestIdHeader() });
      if (o.then === undefined) {
        res.end(body);
        return;
      }
      await write(res, body.slice(0, Math.floor(body.length / 2)));
      await finishEarly(res, o.then);
      return;
    }
    const events = protocol === "anthropic" ? anthropicEvents(turn, o.model, turnIndex) : openAIEvents(turn, o.model, turnIndex, o.usage);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", ...requestIdHeader() });
    const limit = o.then === undefined ? events.length : Math.min(o.stopAfter ?? 3, events.length);
    for (const event of events.slice(0, limit)) {
      if (res.destroyed) return;
      await write(res, event);
    }
    if (o.then === undefined) res.end();
    else await finishEarly(res, o.then);
  }

  async function finishEarly(res: ServerResponse, how: "cut" | "truncate" | "stall"): Promise<void> {
    if (how === "truncate") res.end();
    else if (how === "cut") res.destroy();
    else {
      // Keep the connection open and silent; close() or the client's abort ends it.
      await new Promise<void>((resolve) => {
        res.once("close", resolve);
      });
    }
  }

  function requestIdHeader(): Record<string, string> {
    const id = randomBytes(6).toString("hex");
    return protocol === "anthropic" ? { "request-id": `req_test_${id}` } : { "x-request-id": `req_test_${id}` };
  }

  function anthropicEvents(turn: ScriptedTurn, model: string, turnIndex: number): string[] {
    const sse = (type: string, data: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const usage = usageOf(turn);
    const events: string[] = [
      sse("message_start", {
        message: { id: `msg_test_${String(turnIndex)}`, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
      }),
      sse("ping", {}),
    ];
    let index = 0;
    if (turn.text !== "") {
      events.push(sse("content_block_start", { index, content_block: { type: "text", text: "" } }));
      for (const piece of pieces(turn.text, options.textChunk ?? 3)) events.push(sse("content_block_delta", { index, delta: { type: "text_delta", text: piece } }));
      events.push(sse("content_block_stop", { index }));
      index++;
    }
    turn.tool_calls.forEach((call, i) => {
      events.push(sse("content_block_start", { index, content_block: { type: "tool_use", id: call.id ?? `toolu_test_${String(turnIndex)}_${String(i)}`, name: call.name, input: {} } }));
      for (const piece of pieces(argumentsText(call), options.jsonChunk ?? 4)) events.push(sse("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: piece } }));
      events.push(sse("content_block_stop", { index }));
      index++;
    });
    events.push(sse("message_delta", { delta: { stop_reason: ANTHROPIC_STOP[scriptedStopReason(turn)], stop_sequence: null }, usage: { output_tokens: usage.output } }));
    events.push(sse("message_stop", {}));
    return events;
  }

  function anthropicJson(turn: ScriptedTurn, model: string, turnIndex: number): string {
    const usage = usageOf(turn);
    // raw_input is spliced in verbatim so a test can send arguments that are not JSON (the body then is not JSON either).
    const content: string[] = [];
    if (turn.text !== "") content.push(JSON.stringify({ type: "text", text: turn.text }));
    turn.tool_calls.forEach((call, i) => {
      const head = JSON.stringify({ type: "tool_use", id: call.id ?? `toolu_test_${String(turnIndex)}_${String(i)}`, name: call.name }).slice(0, -1);
      content.push(`${head},"input":${argumentsText(call)}}`);
    });
    const rest = JSON.stringify({ stop_reason: ANTHROPIC_STOP[scriptedStopReason(turn)], stop_sequence: null, usage: { input_tokens: usage.input, output_tokens: usage.output } }).slice(1);
    return `{"id":"msg_test_${String(turnIndex)}","type":"message","role":"assistant","model":${JSON.stringify(model)},"content":[${content.join(",")}],${rest}`;
  }

  function openAIEvents(turn: ScriptedTurn, model: string, turnIndex: number, includeUsage: boolean): string[] {
    const id = `chatcmpl-test-${String(turnIndex)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    const events: string[] = [chunk({ role: "assistant", content: "" })];
    for (const piece of pieces(turn.text, options.textChunk ?? 3)) events.push(chunk({ content: piece }));
    const perCall = turn.tool_calls.map((call, i) => {
      const callId = call.id ?? `call_test_${String(turnIndex)}_${String(i)}`;
      const fragments = [chunk({ tool_calls: [{ index: i, id: callId, type: "function", function: { name: call.name, arguments: "" } }] })];
      for (const piece of pieces(argumentsText(call), options.jsonChunk ?? 4)) fragments.push(chunk({ tool_calls: [{ index: i, function: { arguments: piece } }] }));
      return fragments;
    });
    if (options.interleaveToolCalls === true) {
      const longest = Math.max(0, ...perCall.map((f) => f.length));
      for (let k = 0; k < longest; k++) for (const fragments of perCall) if (k < fragments.length) events.push(fragments[k] as string);
    } else for (const fragments of perCall) events.push(...fragments);
    events.push(chunk({}, OPENAI_FINISH[scriptedStopReason(turn)]));
    if (includeUsage) {
      const usage = usageOf(turn);
      events.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output } })}\n\n`);
    }
    events.push("data: [DONE]\n\n");
    return events;
  }

  function openAIJson(turn: ScriptedTurn, model: string, turnIndex: number): string {
    const usage = usageOf(turn);
    const message = {
      role: "assistant",
      content: turn.text === "" ? null : turn.text,
      refusal: null,
      ...(turn.tool_calls.length === 0
        ? {}
        : { tool_calls: turn.tool_calls.map((call, i) => ({ id: call.id ?? `call_test_${String(turnIndex)}_${String(i)}`, type: "function", function: { name: call.name, arguments: argumentsText(call) } })) }),
    };
    return JSON.stringify({
      id: `chatcmpl-test-${String(turnIndex)}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: OPENAI_FINISH[scriptedStopReason(turn)] }],
      usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output },
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${String(port)}`;
  let closed: Promise<void> | undefined;
  return {
    url: protocol === "anthropic" ? origin : `${origin}/v1`,
    origin,
    requests,
    push: (...steps) => {
      queue.push(...steps);
    },
    pending: () => queue.length,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function argumentsText(call: ScriptedTurn["tool_calls"][number]): string {
  return call.raw_input ?? JSON.stringify(call.input ?? {});
}

function usageOf(turn: ScriptedTurn): { input: number; output: number } {
  // Made-up but plausible counts, so usage plumbing is visible without a turn spelling it out.
  return { input: turn.usage?.input_tokens ?? 12, output: turn.usage?.output_tokens ?? Math.max(1, Math.ceil(turn.text.length / 4) + turn.tool_calls.length * 8) };
}

const ANTHROPIC_STOP: Record<StopReason, string> = { end_turn: "end_turn", tool_use: "tool_use", max_tokens: "max_tokens", refusal: "refusal", other: "pause_turn" };
const OPENAI_FINISH: Record<StopReason, string> = { end_turn: "stop", tool_use: "tool_calls", max_tokens: "length", refusal: "content_filter", other: "other" };

function anthropicErrorType(status: number): string {
  if (status === 400) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 529) return "overloaded_error";
  return "api_error";
}
