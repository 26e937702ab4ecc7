/**
 * `provider/model` → a ModelProvider. Built-in providers cover the common
 * vendors and local servers; config `agent.providers` entries add names or
 * override built-in ones field by field. API keys come only from the secret
 * store (the `apiKey` callback), never from environment variables.
 */
import { join } from "node:path";
import type { Config } from "../../config/schema.ts";
import { AegisError } from "../../errors.ts";
import { parseDuration } from "../../policy/constraints.ts";
import { displayUrl, type HttpProviderSettings } from "./common.ts";
import { createScriptedProvider, loadScript } from "./scripted.ts";
import type { ModelProvider } from "./types.ts";

// The vendor SDKs are loaded only when a provider using them is created: every CLI command imports this module,
// and loading both SDKs costs ~0.2 s of start-up for commands that never talk to a model.
export { createScriptedProvider, loadScript, parseScript, parseTurns, scriptEndedText, type ScriptedTurn, type ScriptedTurnInput } from "./scripted.ts";
export type { HttpProviderSettings } from "./common.ts";

/** One `agent.providers` entry as config.yaml gives it (defaults applied). */
export type ProviderConfig = Config["agent"]["providers"][string];

export interface BuiltinProvider {
  readonly api: "anthropic" | "openai";
  readonly base_url: string;
  /** The secret holding the key; null for local servers that take none. */
  readonly api_key_secret: string | null;
}

export const BUILTIN_PROVIDERS: Readonly<Record<string, BuiltinProvider>> = {
  anthropic: { api: "anthropic", base_url: "https://api.anthropic.com", api_key_secret: "ANTHROPIC_API_KEY" },
  openai: { api: "openai", base_url: "https://api.openai.com/v1", api_key_secret: "OPENAI_API_KEY" },
  openrouter: { api: "openai", base_url: "https://openrouter.ai/api/v1", api_key_secret: "OPENROUTER_API_KEY" },
  ollama: { api: "openai", base_url: "http://127.0.0.1:11434/v1", api_key_secret: null },
  vllm: { api: "openai", base_url: "http://127.0.0.1:8000/v1", api_key_secret: null },
  llamacpp: { api: "openai", base_url: "http://127.0.0.1:8080/v1", api_key_secret: null },
};

/** The vendor endpoints a new provider name gets when config names no base_url. */
const VENDOR_DEFAULTS: Readonly<Record<"anthropic" | "openai", BuiltinProvider>> = {
  anthropic: BUILTIN_PROVIDERS.anthropic as BuiltinProvider,
  openai: BUILTIN_PROVIDERS.openai as BuiltinProvider,
};

const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_TIMEOUT_MS = 120_000;
const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const SCRIPT_NAME = /^[a-z0-9_-]+$/;
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/;

export interface CreateProviderOptions {
  /** config.yaml `agent.providers`. */
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  /** Reads a secret from the store; undefined when it is not there. The only source of API keys. */
  readonly apiKey: (secretName: string) => Promise<string | undefined>;
  /** Where `scripted/NAME` finds NAME.yaml. */
  readonly scriptDir: string;
  /** For tests: the fetch the SDKs use. */
  readonly fetch?: typeof fetch | undefined;
}

export interface ResolvedProvider {
  readonly provider: ModelProvider;
  /** The model name without the provider prefix. */
  readonly model: string;
}

/** The provider names `ref` may start with: built-in, configured, and `scripted`. */
export function knownProviders(configured: Readonly<Record<string, unknown>>): string[] {
  return [...new Set([...Object.keys(BUILTIN_PROVIDERS), ...Object.keys(configured), "scripted"])].sort();
}

/** Splits OpenClaw's `provider/model` at the first `/` (the model may contain more: `openrouter/anthropic/claude-3.5`). */
export function splitModelRef(ref: string): { provider: string; model: string } {
  const slash = ref.indexOf("/");
  const provider = slash < 0 ? "" : ref.slice(0, slash);
  const model = slash < 0 ? "" : ref.slice(slash + 1);
  if (!PROVIDER_NAME.test(provider) || model.trim() === "" || /\s/.test(model)) {
    throw new AegisError("CONFIG_INVALID", `The model ${JSON.stringify(ref)} is not in provider/model form: name it like anthropic/claude-sonnet-4-5, openai/gpt-4.1 or ollama/llama3.1.`, {
      exitCode: 2,
    });
  }
  return { provider, model };
}

export async function createProvider(ref: string, options: CreateProviderOptions): Promise<ResolvedProvider> {
  const { provider: name, model } = splitModelRef(ref);
  if (name === "scripted") return { provider: scriptedProvider(model, options), model };

  const configured = Object.hasOwn(options.providers, name) ? options.providers[name] : undefined;
  const builtin = Object.hasOwn(BUILTIN_PROVIDERS, name) ? BUILTIN_PROVIDERS[name] : undefined;
  if (configured === undefined && builtin === undefined) {
    throw new AegisError("CONFIG_INVALID", `Unknown model provider ${JSON.stringify(name)} in ${JSON.stringify(ref)}. Known providers: ${knownProviders(options.providers).join(", ")}. Add others under agent.providers in config.yaml (api: anthropic or openai, base_url, api_key_secret).`, {
      exitCode: 2,
      details: { provider: name, known: knownProviders(options.providers) },
    });
  }
  const api = configured?.api ?? (builtin as BuiltinProvider).api;
  const baseURL = configured?.base_url ?? builtin?.base_url ?? VENDOR_DEFAULTS[api].base_url;
  // A name's own secret is kept when config only moves its URL (a gateway in front of the vendor). A new name
  // pointed at its own URL gets no key unless config names one: a vendor key must never go to an unrelated server.
  const secretName =
    configured?.api_key_secret !== undefined ? configured.api_key_secret : builtin !== undefined ? builtin.api_key_secret : configured?.base_url === undefined ? VENDOR_DEFAULTS[api].api_key_secret : null;
  const apiKey = secretName === null ? undefined : await storedKey(name, secretName, options);
  if (apiKey !== undefined) refuseCleartextKey(name, baseURL);

  const timeoutMs = configured === undefined ? DEFAULT_TIMEOUT_MS : (parseDuration(configured.timeout) ?? DEFAULT_TIMEOUT_MS);
  const settings: HttpProviderSettings = {
    name,
    baseURL,
    apiKey,
    maxRetries: configured?.max_retries ?? DEFAULT_MAX_RETRIES,
    timeoutMs,
    fetch: options.fetch,
  };
  const create = api === "anthropic" ? (await import("./anthropic.ts")).createAnthropicProvider : (await import("./openai.ts")).createOpenAIProvider;
  try {
    return { provider: create(settings), model };
  } catch (err) {
    // The SDK constructors throw on what they take from the environment (a malformed *_CUSTOM_HEADERS name).
    throw new AegisError("CONFIG_INVALID", `Cannot set up the ${name} model provider: ${err instanceof Error ? err.message : String(err)}`, { details: { provider: name } });
  }
}

function scriptedProvider(scriptName: string, options: CreateProviderOptions): ModelProvider {
  if (!SCRIPT_NAME.test(scriptName)) {
    throw new AegisError("CONFIG_INVALID", `The script name ${JSON.stringify(scriptName)} is not allowed: use lower-case letters, digits, - and _ (scripted/NAME reads NAME.yaml from ${options.scriptDir}).`, {
      exitCode: 2,
    });
  }
  if (Object.hasOwn(options.providers, "scripted")) {
    throw new AegisError("CONFIG_INVALID", `agent.providers.scripted is not allowed: "scripted" is the built-in provider that reads turns from ${options.scriptDir}. Rename the entry.`);
  }
  const file = join(options.scriptDir, `${scriptName}.yaml`);
  return createScriptedProvider({ turns: loadScript(file), source: file, model: scriptName });
}

async function storedKey(provider: string, secretName: string, options: CreateProviderOptions): Promise<string> {
  const raw = await options.apiKey(secretName);
  // A key pasted with its newline is still the key; one with inner spaces or control characters is not one.
  const key = raw?.trim();
  if (key === undefined || key === "") {
    throw new AegisError("SECRET_MISSING", `The model provider ${provider} needs an API key, and the secret ${secretName} is not in the store; store it with: aegisclaw secrets set ${secretName}`, {
      details: { provider, secret: secretName },
    });
  }
  // Checked here because an HTTP client would reject it later with the value in its error message.
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new AegisError("CONFIG_INVALID", `The secret ${secretName} does not look like an API key for ${provider}: it contains spaces, control or non-ASCII characters. Store it again with: aegisclaw secrets set ${secretName}`, {
      details: { provider, secret: secretName },
    });
  }
  return key;
}

/** An API key goes over TLS, or to this machine; anything else would hand it to whoever is on the path. */
function refuseCleartextKey(provider: string, baseURL: string): void {
  const url = new URL(baseURL);
  if (url.protocol === "https:" || LOOPBACK_HOST.test(url.hostname)) return;
  throw new AegisError("CONFIG_INVALID", `Refusing to send the ${provider} API key in clear text to ${displayUrl(baseURL)}: use an https:// base_url (plain http is allowed only to 127.0.0.1, ::1 or localhost).`, {
    details: { provider },
  });
}
