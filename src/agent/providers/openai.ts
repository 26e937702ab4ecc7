/**
 * OpenAI-compatible Chat Completions through the `openai` SDK with an
 * explicit base URL: OpenAI itself, OpenRouter, and local servers (Ollama,
 * vLLM, llama.cpp). Always streaming; tool calls arrive as
 * `delta.tool_calls[index]` fragments and are assembled here, and arguments
 * that are not valid JSON become `inputError` instead of an exception.
 */
import { randomUUID } from "node:crypto";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
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
import type { ChatMessage, ModelProvider, ModelRequest, ModelResponse, ModelToolSpec, StopReason } from "./types.ts";

export function createOpenAIProvider(settings: HttpProviderSettings): ModelProvider {
  const client = new OpenAI({
    // Every option the SDK would otherwise read from the environment is given here.
    apiKey: settings.apiKey ?? KEYLESS_PLACEHOLDER,
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    baseURL: settings.baseURL,
    maxRetries: settings.maxRetries,
    timeout: settings.timeoutMs,
    fetch: cappedRetryAfterFetch(settings.fetch ?? globalThis.fetch),
    defaultHeaders: pinnedHeaders("OPENAI_CUSTOM_HEADERS", settings.apiKey),
    logLevel: "off",
    logger: SILENT_LOGGER,
  });
  // OpenAI's own API rejects max_tokens for its newer models; the compatible servers know max_tokens (not all know the new name).
  const tokenLimitField = new URL(settings.baseURL).hostname === "api.openai.com" ? "max_completion_tokens" : "max_tokens";
  return {
    name: settings.name,
    label: `${settings.name} (OpenAI-compatible Chat Completions at ${displayUrl(settings.baseURL)})`,
    scripted: false,
    complete: (req) => complete(client, settings, tokenLimitField, req),
  };
}

async function complete(client: OpenAI, settings: HttpProviderSettings, tokenLimitField: "max_tokens" | "max_completion_tokens", req: ModelRequest): Promise<ModelResponse> {
  const provider = settings.name;
  const params: ChatCompletionCreateParamsStreaming = {
    model: req.model,
    messages: openAIMessages(req.system, req.messages),
    stream: true,
    // Without this the stream carries no token counts.
    stream_options: { include_usage: true },
    [tokenLimitField]: req.maxOutputTokens,
    ...(req.tools.length === 0 ? {} : { tools: req.tools.map(openAITool) }),
  };
  const assembly = new ChunkAssembly(req.model, req.onTextDelta);
  await consumeStream<ChatCompletionChunk>(
    settings,
    req.signal,
    (signal) => client.chat.completions.create(params, { signal }),
    (chunk) => {
      assembly.add(chunk);
    },
    (err) => openAIError(settings, err, req.signal),
  );
  return assembly.finish(provider);
}

function openAITool(tool: ModelToolSpec): ChatCompletionFunctionTool {
  return { type: "function", function: { name: tool.name, description: tool.description, parameters: { ...tool.parameters } } };
}

/** Our history → Chat Completions messages: the system prompt first, each tool result its own `tool` message. */
export function openAIMessages(system: string, messages: readonly ChatMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = system === "" ? [] : [{ role: "system", content: system }];
  for (const m of messages) {
    if (m.role === "user") out.push({ role: "user", content: m.text });
    else if (m.role === "assistant") {
      // An empty assistant message is rejected by several servers and says nothing.
      if (m.text === "" && m.toolCalls.length === 0) continue;
      out.push({
        role: "assistant",
        content: m.text === "" ? null : m.text,
        ...(m.toolCalls.length === 0
          ? {}
          : { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.name, arguments: JSON.stringify(inputObject(c.input)) } })) }),
      });
    } else {
      // Chat Completions has no is_error flag: the content (ERROR:/DENIED: from the loop) says it.
      for (const r of m.results) out.push({ role: "tool", tool_call_id: r.callId, content: r.content });
    }
  }
  return out;
}

type FinishReason = NonNullable<ChatCompletionChunk.Choice["finish_reason"]>;

const FINISH_REASONS: Record<FinishReason, StopReason> = {
  stop: "end_turn",
  tool_calls: "tool_use",
  function_call: "tool_use",
  length: "max_tokens",
  content_filter: "refusal",
};

/** Servers send reasons outside the SDK's list (`eos`, `abort`); those are `other`. */
function finishReason(reason: string): StopReason {
  return Object.hasOwn(FINISH_REASONS, reason) ? FINISH_REASONS[reason as FinishReason] : "other";
}

interface ToolCallInProgress {
  id: string;
  name: string;
  args: string;
}

/** Builds one response from the chunks, in order. */
class ChunkAssembly {
  #text = "";
  readonly #calls = new Map<number, ToolCallInProgress>();
  #model: string;
  #finish: string | null = null;
  #refused = false;
  #inputTokens = 0;
  #outputTokens = 0;
  readonly #onTextDelta: ((text: string) => void) | undefined;

  constructor(model: string, onTextDelta: ((text: string) => void) | undefined) {
    this.#model = model;
    this.#onTextDelta = onTextDelta;
  }

  add(chunk: ChatCompletionChunk): void {
    // Typed by the SDK, but sent by whichever server is configured: fields can be missing.
    const loose = chunk as Partial<ChatCompletionChunk>;
    if (typeof loose.model === "string" && loose.model !== "") this.#model = loose.model;
    if (chunk.usage) {
      // Compatible servers vary; a count that is missing or not a number is left at what we had.
      this.#inputTokens = count(chunk.usage.prompt_tokens) ?? this.#inputTokens;
      this.#outputTokens = count(chunk.usage.completion_tokens) ?? this.#outputTokens;
    }
    for (const choice of loose.choices ?? []) {
      // We ask for one choice (n defaults to 1); a server that sends more gets its first.
      if (choice.index !== 0) continue;
      const delta = choice.delta;
      if (typeof delta.content === "string" && delta.content !== "") this.#addText(delta.content);
      if (typeof delta.refusal === "string" && delta.refusal !== "") {
        this.#refused = true;
        this.#addText(delta.refusal);
      }
      for (const fragment of delta.tool_calls ?? []) {
        // A server streaming a single call may leave the index out.
        const index: unknown = fragment.index;
        const key = typeof index === "number" ? index : 0;
        let call = this.#calls.get(key);
        if (call === undefined) {
          call = { id: "", name: "", args: "" };
          this.#calls.set(key, call);
        }
        // The id and name come once, in the first fragment; some servers repeat them, so they are set, not appended.
        if (fragment.id !== undefined && fragment.id !== "") call.id = fragment.id;
        if (fragment.function?.name !== undefined && fragment.function.name !== "" && call.name === "") call.name = fragment.function.name;
        if (fragment.function?.arguments !== undefined) call.args += fragment.function.arguments;
      }
      if (choice.finish_reason !== null) this.#finish = choice.finish_reason;
    }
  }

  #addText(text: string): void {
    this.#text += text;
    this.#onTextDelta?.(text);
  }

  finish(provider: string): ModelResponse {
    if (this.#finish === null) {
      // Every compatible server ends a complete answer with a finish_reason; without one the stream was cut off.
      throw modelError(provider, `${provider}'s answer broke off mid-stream: the stream ended without a finish_reason.`, "truncated");
    }
    const toolCalls = [...this.#calls.entries()]
      .sort(([a], [b]) => a - b)
      // Some local servers send no call id; the loop needs one to pair the result with the call.
      .map(([index, c]) => toolCallFromArguments(c.id === "" ? `call_${randomUUID().slice(0, 8)}_${String(index)}` : c.id, c.name, c.args));
    const reason: StopReason = this.#refused ? "refusal" : finishReason(this.#finish);
    return {
      text: this.#text,
      toolCalls,
      stopReason: withToolUse(reason, toolCalls),
      usage: { inputTokens: this.#inputTokens, outputTokens: this.#outputTokens },
      model: this.#model,
    };
  }
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function apiMessage(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") return error.message;
  return undefined;
}

function openAIError(settings: HttpProviderSettings, err: unknown, signal: AbortSignal | undefined): AegisError {
  return sdkError(settings, { abort: APIUserAbortError, timeout: APIConnectionTimeoutError, connection: APIConnectionError, api: APIError }, err, signal, (api) => {
    // err.error is the body's `error` object; a proxy's plain-text error only reaches err.message (after the status).
    return { detail: shortText(apiMessage(api.error) ?? api.message.replace(/^\d{3} /, "")) };
  });
}
