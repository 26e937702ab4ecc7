/**
 * What the two HTTP providers (Anthropic Messages, OpenAI Chat Completions)
 * share: the settings a provider is built from, the errors they raise, and
 * the defences against the SDKs' habit of reading the environment.
 *
 * The SDKs fall back to environment variables for anything left undefined
 * (keys, base URLs, organisations, extra headers, log levels). AegisClaw's
 * keys come only from the secret store, so the providers pass every such
 * option explicitly and undo the one fallback no option turns off: the
 * `*_CUSTOM_HEADERS` variable, which is merged into every request.
 */
import { AegisError } from "../../errors.ts";
import type { ModelToolCall, StopReason } from "./types.ts";

/** What an HTTP provider is built from; `index.ts` fills it from config and the secret store. */
export interface HttpProviderSettings {
  /** The provider key from `provider/model` (`anthropic`, `ollama`, a name from config). */
  readonly name: string;
  readonly baseURL: string;
  /** The key from the secret store; undefined for a local server that takes none (then no Authorization header is sent). */
  readonly apiKey: string | undefined;
  /** Retries the SDK makes on 408/409/429/5xx and connection errors, honouring retry-after. */
  readonly maxRetries: number;
  /** Per-attempt timeout. */
  readonly timeoutMs: number;
  /** For tests; default the global fetch. */
  readonly fetch?: typeof fetch | undefined;
}

/** The SDKs log to the console by default (and at the level an env var names); the terminal chat owns the console. */
export const SILENT_LOGGER = {
  debug: (): void => undefined,
  info: (): void => undefined,
  warn: (): void => undefined,
  error: (): void => undefined,
};

/** Sent as the SDK's key when the server takes none; the Authorization header is then removed, so it never leaves the process. */
export const KEYLESS_PLACEHOLDER = "aegisclaw-no-key";

/** Headers the SDK sets itself that carry no credential: an env override of these is left alone (removing them would break every request). */
const SDK_OWNED_HEADERS = new Set(["accept", "user-agent", "content-type", "anthropic-version"]);

/**
 * `defaultHeaders` that cancel what `envVar` (ANTHROPIC_CUSTOM_HEADERS /
 * OPENAI_CUSTOM_HEADERS) would add, and pin Authorization to the store's key.
 * The SDK parses the variable as `Name: value` lines and merges it under the
 * caller's defaultHeaders, so naming the same header here (null removes it)
 * wins. Authorization is set here too so no environment value can replace it.
 */
export function pinnedHeaders(envVar: string, apiKey: string | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string | null> {
  const auth = apiKey === undefined ? null : `Bearer ${apiKey}`;
  const out: Record<string, string | null> = {};
  for (const line of (env[envVar] ?? "").split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const lower = name.toLowerCase();
    if (name === "" || SDK_OWNED_HEADERS.has(lower) || lower.startsWith("x-stainless-")) continue;
    out[name] = lower === "authorization" ? auth : null;
  }
  // Both SDKs send the key as a bearer token; other auth headers must not come from anywhere else.
  out.authorization = auth;
  out["x-api-key"] = null;
  out["api-key"] = null;
  return out;
}

/** Longest server-requested retry wait we honour; the OpenAI SDK ignores longer ones, the Anthropic SDK would sleep up to 24 days. */
export const MAX_RETRY_AFTER_MS = 60_000;

function retryAfterMs(headers: Headers): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && !Number.isNaN(parseFloat(ms))) return parseFloat(ms);
  const after = headers.get("retry-after");
  if (after === null) return undefined;
  const seconds = parseFloat(after);
  if (!Number.isNaN(seconds)) return seconds * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : date - Date.now();
}

/**
 * A fetch that drops retry-after headers asking for more than a minute, so
 * the SDK falls back to its own short exponential backoff: one server (or a
 * proxy in between) must not be able to park the agent for hours.
 */
export function cappedRetryAfterFetch(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    const res = await base(input, init);
    if (res.ok) return res;
    const wait = retryAfterMs(res.headers);
    if (wait === undefined || wait <= MAX_RETRY_AFTER_MS) return res;
    const headers = new Headers(res.headers);
    headers.delete("retry-after");
    headers.delete("retry-after-ms");
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}

/**
 * The SDKs' timeout covers an attempt only until the response headers
 * arrive; a stream that then goes silent would hold the turn until the
 * caller's own deadline. This aborts a stream with no event for `ms`.
 */
export class StreamIdleWatch {
  readonly #ms: number;
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  /** Pass this to the SDK: it aborts on the caller's signal or on silence. */
  readonly signal: AbortSignal;

  constructor(ms: number, outer: AbortSignal | undefined) {
    this.#ms = ms;
    this.signal = outer === undefined ? this.#controller.signal : AbortSignal.any([outer, this.#controller.signal]);
  }

  /** Call when the stream starts and on every event. */
  kick(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#controller.abort();
    }, this.#ms);
  }

  /** True when silence (not the caller) ended the stream. */
  get fired(): boolean {
    return this.#controller.signal.aborted;
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  error(provider: string): AegisError {
    return modelError(provider, `${provider} stopped sending mid-answer: nothing arrived for ${String(this.#ms / 1000)}s.`, "timeout");
  }
}

/** Why a model call failed, for `details.reason`: callers may retry `connection`, `timeout`, `truncated` and 429/5xx. */
export type ModelFailure = "http" | "connection" | "timeout" | "malformed" | "truncated" | "stream_error" | "cancelled" | "other";

/** A URL for labels and messages: no user:password, query or fragment (gateways sometimes take a key there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "(an invalid URL)";
  }
}

/** One line, at most `max` characters: server messages can be long or multi-line. */
export function shortText(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function modelError(provider: string, message: string, reason: ModelFailure, extra: { status?: number | undefined; retryable?: boolean } = {}): AegisError {
  const retryable = extra.retryable ?? (reason === "connection" || reason === "timeout" || reason === "truncated");
  // No `cause`: SDK errors carry response headers and request internals; the message says what the user needs.
  return new AegisError("MODEL_ERROR", message, { details: { provider, status: extra.status, retryable, reason } });
}

export function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export function cancelledError(provider: string): AegisError {
  return modelError(provider, `The request to ${provider} was cancelled.`, "cancelled", { retryable: false });
}

/**
 * The error an SDK failure becomes when it is neither an HTTP status nor one
 * of the SDK's own connection errors (the providers check those first):
 * a broken stream, a response that is not JSON.
 */
export function otherModelError(provider: string, err: unknown, signal: AbortSignal | undefined): AegisError {
  if (err instanceof AegisError) return err;
  if (signal?.aborted === true) return cancelledError(provider);
  if (err instanceof SyntaxError) return modelError(provider, `${provider} sent a malformed response (not valid JSON): ${shortText(err.message, 160)}`, "malformed", { retryable: true });
  if (err instanceof TypeError) {
    // undici reports a connection closed mid-body as TypeError("terminated") with the socket error as cause.
    const cause = err.cause instanceof Error ? ` (${shortText(err.cause.message, 120)})` : "";
    return modelError(provider, `${provider}'s answer broke off mid-stream: ${shortText(err.message, 120)}${cause}`, "truncated");
  }
  const message = err instanceof Error ? err.message : String(err);
  return modelError(provider, `${provider} failed: ${shortText(message)}`, "other", { retryable: false });
}

/** Parses a model's tool-call arguments; text that is not JSON becomes `inputError`, never an exception. */
export function toolCallFromArguments(id: string, name: string, text: string): ModelToolCall {
  if (text.trim() === "") return { id, name, input: {} };
  try {
    return { id, name, input: JSON.parse(text) as unknown };
  } catch (err) {
    return { id, name, input: undefined, inputError: `${err instanceof Error ? shortText(err.message, 160) : "not JSON"}; received ${JSON.stringify(shortText(text, 120))}` };
  }
}

/** Tool-call input as a JSON object for the wire: protocols want an object, and a call whose arguments were broken has none. */
export function inputObject(input: unknown): Record<string, unknown> {
  return typeof input === "object" && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
}

/** A stop reason that says tool_use whenever tools were called: some OpenAI-compatible servers answer `stop` with tool calls. */
export function withToolUse(reason: StopReason, toolCalls: readonly ModelToolCall[]): StopReason {
  return toolCalls.length > 0 && reason === "end_turn" ? "tool_use" : reason;
}

/**
 * Opens a streaming request and feeds every event to `add`, under the idle watch (the SDKs' timeout only lasts
 * until the headers arrive). Errors become AegisErrors through `mapError`; an abort or a silent stream is
 * reported as such even when the SDK ends the iteration quietly.
 */
export async function consumeStream<E>(
  settings: HttpProviderSettings,
  signal: AbortSignal | undefined,
  open: (signal: AbortSignal) => Promise<AsyncIterable<E>>,
  add: (event: E) => void,
  mapError: (err: unknown) => AegisError,
): Promise<void> {
  const provider = settings.name;
  const idle = new StreamIdleWatch(settings.timeoutMs, signal);
  try {
    const stream = await open(idle.signal);
    idle.kick();
    for await (const event of stream) {
      idle.kick();
      add(event);
    }
  } catch (err) {
    if (idle.fired && signal?.aborted !== true) throw idle.error(provider);
    throw mapError(err);
  } finally {
    idle.stop();
  }
  // The SDKs end the iteration quietly when the request is aborted mid-stream.
  if (signal?.aborted === true) throw cancelledError(provider);
  if (idle.fired) throw idle.error(provider);
}

/** The error classes both SDKs export (same names, separate classes). */
export interface SdkErrorClasses<A extends Error> {
  readonly abort: abstract new (...args: never[]) => Error;
  readonly timeout: abstract new (...args: never[]) => Error;
  readonly connection: abstract new (...args: never[]) => Error;
  readonly api: abstract new (...args: never[]) => A;
}

/**
 * An SDK error as MODEL_ERROR saying what happened, with no request headers (the key) in it. `apiError` words an
 * API error body: `detail` is the server's own message, `midStream` true for an error sent inside a stream
 * (no HTTP status).
 */
export function sdkError<A extends Error & { readonly status?: unknown }>(
  settings: HttpProviderSettings,
  classes: SdkErrorClasses<A>,
  err: unknown,
  signal: AbortSignal | undefined,
  apiError: (err: A) => { readonly detail: string; readonly midStream?: AegisError },
): AegisError {
  const provider = settings.name;
  if (err instanceof AegisError) return err;
  if (err instanceof classes.abort || signal?.aborted === true) return cancelledError(provider);
  if (err instanceof classes.timeout) {
    return modelError(provider, `${provider} did not answer within ${String(settings.timeoutMs / 1000)}s (tried ${String(settings.maxRetries + 1)} times).`, "timeout");
  }
  if (err instanceof classes.connection) {
    const cause = err.cause instanceof Error ? shortText(err.cause.message, 160) : shortText(err.message, 160);
    return modelError(provider, `${provider} could not be reached at ${displayUrl(settings.baseURL)} (${cause}).`, "connection");
  }
  if (err instanceof classes.api) {
    const { detail, midStream } = apiError(err);
    const status = typeof err.status === "number" ? err.status : undefined;
    if (status === undefined) return midStream ?? modelError(provider, `${provider} reported an error mid-answer: ${detail}`, "stream_error", { retryable: false });
    return modelError(provider, `${provider} answered ${String(status)}: ${detail}`, "http", { status, retryable: retryableStatus(status) });
  }
  return otherModelError(provider, err, signal);
}
