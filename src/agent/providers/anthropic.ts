/**
 * Anthropic Messages API through `@anthropic-ai/sdk`, always streaming: text
 * reaches `onTextDelta` as it arrives, and tool-call input is assembled from
 * `input_json_delta` fragments here (not by the SDK's helper) so input that
 * is not valid JSON becomes `inputError` instead of an exception.
 */
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "@anthropic-ai/sdk";
import type { ContentBlockParam, MessageCreateParamsStreaming, MessageParam, RawMessageStreamEvent, StopReason as AnthropicStopReason, Tool } from "@anthropic-ai/sdk/resources/messages";
import { AegisError } from "../../errors.ts";
import {
  consumeStream,
  cappedRetryAfterFetch,
  displayUrl,
  inputObject,
  KEYLESS_PLACEHOLDER,
  modelError,
  pinnedHeaders,
  sdkError,
  shortText,
  SILENT_LOGGER,
  toolCallFromArguments,
  withToolUse,
  type HttpProviderSettings,
} from "./common.ts";
import type { ChatMessage, ModelProvider, ModelRequest, ModelResponse, ModelToolCall, ModelToolSpec, StopReason } from "./types.ts";

export function createAnthropicProvider(settings: HttpProviderSettings): ModelProvider {
  const client = new Anthropic({
    // Every option the SDK would otherwise read from the environment is given here.
    apiKey: settings.apiKey ?? KEYLESS_PLACEHOLDER,
    authToken: null,
    webhookKey: null,
    baseURL: settings.baseURL,
    maxRetries: settings.maxRetries,
    timeout: settings.timeoutMs,
    fetch: cappedRetryAfterFetch(settings.fetch ?? globalThis.fetch),
    defaultHeaders: pinnedHeaders("ANTHROPIC_CUSTOM_HEADERS", settings.apiKey),
    logLevel: "off",
    logger: SILENT_LOGGER,
    // No spans: with a tracer registered they could carry prompts out of the process (and the env vars could turn content capture on).
    openTelemetry: false,
  });
  return {
    name: settings.name,
    label: `${settings.name} (Anthropic Messages API at ${displayUrl(settings.baseURL)})`,
    scripted: false,
    complete: (req) => complete(client, settings, req),
  };
}

async function complete(client: Anthropic, settings: HttpProviderSettings, req: ModelRequest): Promise<ModelResponse> {
  const provider = settings.name;
  const params: MessageCreateParamsStreaming = {
    model: req.model,
    max_tokens: req.maxOutputTokens,
    messages: anthropicMessages(req.messages),
    stream: true,
    ...(req.system === "" ? {} : { system: req.system }),
    ...(req.tools.length === 0 ? {} : { tools: req.tools.map(anthropicTool) }),
  };
  const assembly = new StreamAssembly(req.model, req.onTextDelta);
  await consumeStream<RawMessageStreamEvent>(
    settings,
    req.signal,
    (signal) => client.messages.create(params, { signal }),
    (event) => {
      assembly.add(event);
    },
    (err) => anthropicError(settings, err, req.signal),
  );
  return assembly.finish(provider);
}

function anthropicTool(tool: ModelToolSpec): Tool {
  return { name: tool.name, description: tool.description, input_schema: { type: "object", ...tool.parameters } };
}

/**
 * Our history → Messages API turns. A `tool` message becomes a user turn of
 * `tool_result` blocks; consecutive turns of one role are merged (the API
 * wants alternation, and a user message can follow tool results after a
 * repaired history); empty text is dropped (the API rejects empty blocks).
 */
export function anthropicMessages(messages: readonly ChatMessage[]): MessageParam[] {
  const out: { role: "user" | "assistant"; content: ContentBlockParam[] }[] = [];
  const push = (role: "user" | "assistant", blocks: ContentBlockParam[]): void => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    if (m.role === "user") push("user", m.text === "" ? [] : [{ type: "text", text: m.text }]);
    else if (m.role === "assistant") {
      const blocks: ContentBlockParam[] = m.text === "" ? [] : [{ type: "text", text: m.text }];
      for (const c of m.toolCalls) blocks.push({ type: "tool_use", id: c.id, name: c.name, input: inputObject(c.input) });
      push("assistant", blocks);
    } else {
      push(
        "user",
        m.results.map((r) => ({ type: "tool_result", tool_use_id: r.callId, content: r.content, is_error: r.isError })),
      );
    }
  }
  return out;
}

const STOP_REASONS: Record<AnthropicStopReason, StopReason> = {
  end_turn: "end_turn",
  stop_sequence: "end_turn",
  tool_use: "tool_use",
  max_tokens: "max_tokens",
  model_context_window_exceeded: "max_tokens",
  refusal: "refusal",
  pause_turn: "other",
};

interface ToolUseInProgress {
  readonly id: string;
  readonly name: string;
  json: string;
  readonly startInput: unknown;
}

/** Builds one response from the raw stream events, in order. */
class StreamAssembly {
  #text = "";
  readonly #calls: (ModelToolCall | ToolUseInProgress)[] = [];
  readonly #open = new Map<number, ToolUseInProgress>();
  #model: string;
  #stop: AnthropicStopReason | null = null;
  #inputTokens = 0;
  #outputTokens = 0;
  #started = false;
  #stopped = false;
  readonly #onTextDelta: ((text: string) => void) | undefined;

  constructor(model: string, onTextDelta: ((text: string) => void) | undefined) {
    this.#model = model;
    this.#onTextDelta = onTextDelta;
  }

  add(event: RawMessageStreamEvent): void {
    switch (event.type) {
      case "message_start": {
        this.#started = true;
        // Typed by the SDK, but sent by whichever server is configured: fields can be missing.
        const model: unknown = event.message.model;
        if (typeof model === "string" && model !== "") this.#model = model;
        const usage = (event.message as Partial<typeof event.message>).usage;
        if (usage !== undefined) {
          this.#inputTokens = inputTokens(usage) ?? 0;
          this.#outputTokens = count(usage.output_tokens) ?? 0;
        }
        break;
      }
      case "content_block_start": {
        const block = event.content_block;
        if (block.type === "text" && block.text !== "") this.#addText(block.text);
        else if (block.type === "tool_use") {
          const call: ToolUseInProgress = { id: block.id, name: block.name, json: "", startInput: block.input };
          this.#open.set(event.index, call);
          this.#calls.push(call);
        }
        break;
      }
      case "content_block_delta": {
        const delta = event.delta;
        if (delta.type === "text_delta") this.#addText(delta.text);
        else if (delta.type === "input_json_delta") {
          const call = this.#open.get(event.index);
          if (call !== undefined) call.json += delta.partial_json;
        }
        break;
      }
      case "content_block_stop":
        this.#open.delete(event.index);
        break;
      case "message_delta": {
        this.#stop = event.delta.stop_reason;
        // message_delta usage is cumulative; compatible servers often leave the input counts out.
        const usage = (event as Partial<typeof event>).usage;
        if (usage !== undefined) {
          this.#outputTokens = count(usage.output_tokens) ?? this.#outputTokens;
          this.#inputTokens = inputTokens(usage) ?? this.#inputTokens;
        }
        break;
      }
      case "message_stop":
        this.#stopped = true;
        break;
    }
  }

  #addText(text: string): void {
    this.#text += text;
    this.#onTextDelta?.(text);
  }

  finish(provider: string): ModelResponse {
    if (!this.#started || !this.#stopped) {
      // A stream that ends without message_stop was cut off (a proxy timeout, a crash): half an answer is not an answer.
      throw modelError(provider, `${provider}'s answer broke off mid-stream: the stream ended before message_stop.`, "truncated");
    }
    const toolCalls = this.#calls.map((c) => ("json" in c ? toolCallFromStream(c) : c));
    // A stop reason newer than this SDK's list is `other`.
    const reason = this.#stop !== null && Object.hasOwn(STOP_REASONS, this.#stop) ? STOP_REASONS[this.#stop] : "other";
    return {
      text: this.#text,
      toolCalls,
      stopReason: withToolUse(reason, toolCalls),
      usage: { inputTokens: this.#inputTokens, outputTokens: this.#outputTokens },
      model: this.#model,
    };
  }
}

/** A token count from the wire: servers that merely speak the protocol leave fields out or send null. */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Cached input is input too: a budget counts every token the request consumed. */
function inputTokens(usage: { input_tokens: unknown; cache_creation_input_tokens?: unknown; cache_read_input_tokens?: unknown }): number | undefined {
  const base = count(usage.input_tokens);
  if (base === undefined) return undefined;
  return base + (count(usage.cache_creation_input_tokens) ?? 0) + (count(usage.cache_read_input_tokens) ?? 0);
}

function toolCallFromStream(call: ToolUseInProgress): ModelToolCall {
  // Input arrives as input_json_delta fragments; with none, the block's own (usually empty) input stands.
  if (call.json === "") return { id: call.id, name: call.name, input: call.startInput ?? {} };
  return toolCallFromArguments(call.id, call.name, call.json);
}

function anthropicError(settings: HttpProviderSettings, err: unknown, signal: AbortSignal | undefined): AegisError {
  return sdkError(settings, { abort: APIUserAbortError, timeout: APIConnectionTimeoutError, connection: APIConnectionError, api: APIError }, err, signal, (api) => {
    // apiMessage is the API's own error.message; a proxy's plain-text error only reaches err.message (after the status).
    const detail = shortText(api.apiMessage ?? api.message.replace(/^\d{3} /, ""));
    // An `event: error` inside a stream that had already started (e.g. overloaded_error) has no status.
    const retryable = api.type === "overloaded_error" || api.type === "api_error" || api.type === "rate_limit_error";
    return { detail, midStream: modelError(settings.name, `${settings.name} reported an error mid-answer: ${api.type ?? "error"}: ${detail}`, "stream_error", { retryable }) };
  });
}
