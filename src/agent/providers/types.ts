/**
 * The one shape every model provider speaks to the agent loop. Providers
 * translate it to and from a wire protocol (Anthropic Messages, OpenAI Chat
 * Completions) or a script; the loop never sees a vendor type.
 */

/** A tool call the model proposed. `input` is what the model sent, parsed; the envelope parses it again with the tool's schema. */
export interface ModelToolCall {
  /** The provider's id for the call, echoed back with its result. */
  readonly id: string;
  readonly name: string;
  readonly input: unknown;
  /** Set when the model's arguments were not valid JSON (then `input` is undefined): the loop answers with this error. */
  readonly inputError?: string;
}

export interface ToolResultPart {
  readonly callId: string;
  readonly name: string;
  readonly content: string;
  readonly isError: boolean;
}

export type ChatMessage =
  | { readonly role: "user"; readonly text: string }
  | { readonly role: "assistant"; readonly text: string; readonly toolCalls: readonly ModelToolCall[] }
  | { readonly role: "tool"; readonly results: readonly ToolResultPart[] };

/** A tool as the model is told about it: name, what it does, a JSON Schema object for its input. */
export interface ModelToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface ModelRequest {
  /** The model name without the provider prefix (`claude-sonnet-4-5`, `llama3.1`). */
  readonly model: string;
  readonly system: string;
  readonly messages: readonly ChatMessage[];
  readonly tools: readonly ModelToolSpec[];
  readonly maxOutputTokens: number;
  readonly signal?: AbortSignal;
  /** Called with each piece of text as it streams in. */
  readonly onTextDelta?: (text: string) => void;
}

export type StopReason = "end_turn" | "tool_use" | "max_tokens" | "refusal" | "other";

export interface ModelResponse {
  readonly text: string;
  readonly toolCalls: readonly ModelToolCall[];
  readonly stopReason: StopReason;
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number };
  /** The model that answered, as the server named it. */
  readonly model: string;
}

export interface ModelProvider {
  /** The provider key from `provider/model` (`anthropic`, `openai`, `ollama`, `scripted`). */
  readonly name: string;
  /** What to show wherever the provider is used; a scripted provider says it is not a model. */
  readonly label: string;
  /** True for the scripted provider (a file of turns, for tests and quickstart). */
  readonly scripted: boolean;
  complete(req: ModelRequest): Promise<ModelResponse>;
}
