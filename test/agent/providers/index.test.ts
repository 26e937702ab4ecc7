/** createProvider: provider/model refs, built-in and configured providers, keys only from the store. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { BUILTIN_PROVIDERS, createProvider, splitModelRef, type CreateProviderOptions, type ProviderConfig } from "../../../src/agent/providers/index.ts";
import type { ModelRequest } from "../../../src/agent/providers/types.ts";
import { AegisError } from "../../../src/errors.ts";
import { isAegis } from "../../helpers/errors.ts";
import { startAnthropicServer, startOpenAIServer, type ModelServer } from "../../helpers/model-servers.ts";
import { tempDir } from "../../helpers/tmp.ts";

const REQUEST: ModelRequest = { model: "ignored", system: "sys", messages: [{ role: "user", text: "hi" }], tools: [], maxOutputTokens: 64 };

/** A secret store stub that records which secrets were asked for. */
function store(secrets: Record<string, string>): { asked: string[]; apiKey: CreateProviderOptions["apiKey"] } {
  const asked: string[] = [];
  return {
    asked,
    apiKey: (name) => {
      asked.push(name);
      return Promise.resolve(secrets[name]);
    },
  };
}

function entry(e: Partial<ProviderConfig> & Pick<ProviderConfig, "api">): ProviderConfig {
  return { max_retries: 0, timeout: "5s", ...e };
}

function options(t: TestContext, providers: Record<string, ProviderConfig>, secrets: Record<string, string> = {}): CreateProviderOptions & { asked: string[] } {
  const s = store(secrets);
  return { providers, apiKey: s.apiKey, asked: s.asked, scriptDir: tempDir(t) };
}

async function anthropicServer(t: TestContext, steps = [{ text: "from anthropic" }]): Promise<ModelServer> {
  const server = await startAnthropicServer({ steps });
  t.after(() => server.close());
  return server;
}

async function openAIServer(t: TestContext, steps = [{ text: "from openai" }]): Promise<ModelServer> {
  const server = await startOpenAIServer({ steps });
  t.after(() => server.close());
  return server;
}

test("splits provider/model at the first slash; the model may contain slashes", () => {
  assert.deepEqual(splitModelRef("openrouter/anthropic/claude-3.5"), { provider: "openrouter", model: "anthropic/claude-3.5" });
  assert.deepEqual(splitModelRef("ollama/llama3.1:8b"), { provider: "ollama", model: "llama3.1:8b" });
  for (const bad of ["claude", "/model", "anthropic/", "Anthropic/x", "anthropic/has space"]) {
    assert.throws(() => splitModelRef(bad), isAegis("CONFIG_INVALID", /provider\/model/), bad);
  }
});

test("an openrouter model keeps its slashes on the wire, and the key comes from OPENROUTER_API_KEY in the store", async (t) => {
  const server = await openAIServer(t);
  const o = options(t, { openrouter: entry({ api: "openai", base_url: server.url }) }, { OPENROUTER_API_KEY: "sk-or-store" });
  const { provider, model } = await createProvider("openrouter/anthropic/claude-3.5", o);
  assert.equal(model, "anthropic/claude-3.5");
  await provider.complete({ ...REQUEST, model });
  assert.equal((server.requests[0]?.body as { model: string }).model, "anthropic/claude-3.5");
  assert.equal(server.requests[0]?.headers.authorization, "Bearer sk-or-store");
  assert.deepEqual(o.asked, ["OPENROUTER_API_KEY"]);
});

test("an unknown provider is CONFIG_INVALID listing the known ones", async (t) => {
  await assert.rejects(createProvider("mystery/model-1", options(t, { mine: entry({ api: "openai", base_url: "http://127.0.0.1:1/v1" }) })), (err: unknown) => {
    assert.ok(err instanceof AegisError && err.code === "CONFIG_INVALID");
    assert.match(err.message, /Unknown model provider "mystery"/);
    for (const name of [...Object.keys(BUILTIN_PROVIDERS), "mine", "scripted"]) assert.match(err.message, new RegExp(`\\b${name}\\b`));
    return true;
  });
});

test("a provider whose key is not in the store is SECRET_MISSING saying how to store it", async (t) => {
  await assert.rejects(createProvider("anthropic/claude-sonnet-4-5", options(t, {})), isAegis("SECRET_MISSING", /store it with: aegisclaw secrets set ANTHROPIC_API_KEY/));
  await assert.rejects(createProvider("openai/gpt-4.1", options(t, {}, { OPENAI_API_KEY: "  \n" })), isAegis("SECRET_MISSING", /aegisclaw secrets set OPENAI_API_KEY/));
});

test("a stored key with inner spaces or control characters is refused without echoing it", async (t) => {
  await assert.rejects(createProvider("anthropic/x", options(t, {}, { ANTHROPIC_API_KEY: "sk-ant bad\u0007key" })), (err: unknown) => {
    assert.ok(err instanceof AegisError && err.code === "CONFIG_INVALID");
    assert.doesNotMatch(err.message, /bad/);
    return true;
  });
});

test("a key surrounded by whitespace (pasted with its newline) is trimmed", async (t) => {
  const server = await anthropicServer(t);
  const o = options(t, { anthropic: entry({ api: "anthropic", base_url: server.url }) }, { ANTHROPIC_API_KEY: "sk-ant-store\n" });
  const { provider } = await createProvider("anthropic/claude-x", o);
  await provider.complete(REQUEST);
  assert.equal(server.requests[0]?.headers.authorization, "Bearer sk-ant-store");
});

test("local providers (ollama, vllm, llamacpp) ask the store for nothing and send no key", async (t) => {
  for (const name of ["ollama", "vllm", "llamacpp"]) {
    const server = await openAIServer(t);
    const o = options(t, { [name]: entry({ api: "openai", base_url: server.url }) });
    const { provider, model } = await createProvider(`${name}/llama3.1`, o);
    assert.equal(model, "llama3.1");
    assert.equal((await provider.complete(REQUEST)).text, "from openai");
    assert.deepEqual(o.asked, [], name);
    assert.equal(server.requests[0]?.headers.authorization, undefined, name);
  }
});

test("built-in defaults: vendor URLs and secrets, local servers on loopback without keys", () => {
  assert.deepEqual(BUILTIN_PROVIDERS.anthropic, { api: "anthropic", base_url: "https://api.anthropic.com", api_key_secret: "ANTHROPIC_API_KEY" });
  assert.deepEqual(BUILTIN_PROVIDERS.openai, { api: "openai", base_url: "https://api.openai.com/v1", api_key_secret: "OPENAI_API_KEY" });
  assert.deepEqual(BUILTIN_PROVIDERS.openrouter, { api: "openai", base_url: "https://openrouter.ai/api/v1", api_key_secret: "OPENROUTER_API_KEY" });
  assert.deepEqual(BUILTIN_PROVIDERS.ollama, { api: "openai", base_url: "http://127.0.0.1:11434/v1", api_key_secret: null });
  assert.deepEqual(BUILTIN_PROVIDERS.vllm, { api: "openai", base_url: "http://127.0.0.1:8000/v1", api_key_secret: null });
  assert.deepEqual(BUILTIN_PROVIDERS.llamacpp, { api: "openai", base_url: "http://127.0.0.1:8080/v1", api_key_secret: null });
});

test("the built-in anthropic provider labels itself with the vendor URL", async (t) => {
  const { provider } = await createProvider("anthropic/claude-sonnet-4-5", options(t, {}, { ANTHROPIC_API_KEY: "sk-ant" }));
  assert.equal(provider.name, "anthropic");
  assert.equal(provider.scripted, false);
  assert.match(provider.label, /Anthropic Messages API at https:\/\/api\.anthropic\.com/);
});

test("a configured provider adds a name with its own protocol, URL and secret", async (t) => {
  const server = await anthropicServer(t);
  const o = options(t, { corp: entry({ api: "anthropic", base_url: server.url, api_key_secret: "CORP_GATEWAY_KEY" }) }, { CORP_GATEWAY_KEY: "corp-key", ANTHROPIC_API_KEY: "vendor-key" });
  const { provider } = await createProvider("corp/claude-x", o);
  assert.equal((await provider.complete(REQUEST)).text, "from anthropic");
  assert.equal(server.requests[0]?.headers.authorization, "Bearer corp-key");
  assert.deepEqual(o.asked, ["CORP_GATEWAY_KEY"]);
});

test("a new provider at its own URL with no api_key_secret gets no vendor key", async (t) => {
  const server = await openAIServer(t);
  const o = options(t, { lab: entry({ api: "openai", base_url: server.url }) }, { OPENAI_API_KEY: "vendor-key" });
  const { provider } = await createProvider("lab/qwen", o);
  await provider.complete(REQUEST);
  assert.deepEqual(o.asked, []);
  assert.equal(server.requests[0]?.headers.authorization, undefined);
});

test("api_key_secret: null turns the key off for a built-in provider", async (t) => {
  const server = await openAIServer(t);
  const o = options(t, { openai: entry({ api: "openai", base_url: server.url, api_key_secret: null }) });
  const { provider } = await createProvider("openai/gpt-x", o);
  await provider.complete(REQUEST);
  assert.deepEqual(o.asked, []);
});

test("config max_retries and timeout reach the SDK", async (t) => {
  const server = await openAIServer(t, []);
  server.push({ fail: "status", status: 503, retryAfterMs: "1" }, { fail: "status", status: 503, retryAfterMs: "1" }, { text: "third time" });
  const o = options(t, { ollama: entry({ api: "openai", base_url: server.url, max_retries: 1 }) });
  const { provider } = await createProvider("ollama/m", o);
  await assert.rejects(provider.complete(REQUEST), isAegis("MODEL_ERROR", /answered 503/));
  assert.equal(server.requests.length, 2, "max_retries: 1 means two attempts");

  const hung = await openAIServer(t, []);
  hung.push({ fail: "hang" });
  const { provider: slow } = await createProvider("ollama/m", options(t, { ollama: entry({ api: "openai", base_url: hung.url, timeout: "1s" }) }));
  const t0 = performance.now();
  await assert.rejects(slow.complete(REQUEST), isAegis("MODEL_ERROR", /did not answer within 1s/));
  assert.ok(performance.now() - t0 < 4000);
});

test("an API key is never sent in clear text to a remote host", async (t) => {
  await assert.rejects(
    createProvider("remote/m", options(t, { remote: entry({ api: "openai", base_url: "http://models.example.com/v1", api_key_secret: "REMOTE_KEY" }) }, { REMOTE_KEY: "sk-remote" })),
    (err: unknown) => {
      assert.ok(err instanceof AegisError && err.code === "CONFIG_INVALID");
      assert.match(err.message, /clear text.*https:\/\//);
      assert.doesNotMatch(err.message, /sk-remote/);
      return true;
    },
  );
  // Loopback over http is fine (a local gateway), and so is a keyless remote server.
  await createProvider("local/m", options(t, { local: entry({ api: "openai", base_url: "http://localhost:9999/v1", api_key_secret: "K" }) }, { K: "k" }));
  await createProvider("open/m", options(t, { open: entry({ api: "openai", base_url: "http://models.example.com/v1" }) }));
});

test("scripted/NAME reads NAME.yaml from the scripts directory", async (t) => {
  const o = options(t, {});
  mkdirSync(o.scriptDir, { recursive: true });
  writeFileSync(join(o.scriptDir, "inbox-demo.yaml"), 'turns:\n  - text: "Reading."\n    tool_calls: [{ name: read, input: { path: a.txt } }]\n');
  const { provider, model } = await createProvider("scripted/inbox-demo", o);
  assert.equal(model, "inbox-demo");
  assert.equal(provider.scripted, true);
  assert.equal(provider.label, `scripted turns from ${join(o.scriptDir, "inbox-demo.yaml")} (not a model)`);
  assert.deepEqual((await provider.complete(REQUEST)).toolCalls, [{ id: "call_0_0", name: "read", input: { path: "a.txt" } }]);
  assert.deepEqual(o.asked, []);
});

test("scripted names are restricted: no paths, dots or capitals", async (t) => {
  for (const name of ["../secrets", "a/b", "demo.yaml", "Demo", "..", "x y"]) {
    await assert.rejects(createProvider(`scripted/${name}`, options(t, {})), isAegis("CONFIG_INVALID"), name);
  }
});

test("a missing or broken script is CONFIG_INVALID naming the file", async (t) => {
  const o = options(t, {});
  await assert.rejects(createProvider("scripted/absent", o), isAegis("CONFIG_INVALID", /absent\.yaml/));
  writeFileSync(join(o.scriptDir, "bad.yaml"), "turns:\n  - txt: oops\n");
  await assert.rejects(createProvider("scripted/bad", o), isAegis("CONFIG_INVALID", /bad\.yaml:2/));
});

test("a config entry named scripted is refused, not silently shadowed", async (t) => {
  await assert.rejects(createProvider("scripted/demo", options(t, { scripted: entry({ api: "openai" }) })), isAegis("CONFIG_INVALID", /agent\.providers\.scripted/));
});

const POISON_ENV: Record<string, string> = {
  ANTHROPIC_API_KEY: "poison-anthropic-key",
  ANTHROPIC_AUTH_TOKEN: "poison-anthropic-token",
  ANTHROPIC_BASE_URL: "http://127.0.0.1:9/poison-anthropic",
  ANTHROPIC_CUSTOM_HEADERS: "Authorization: Bearer poison-custom\nX-Api-Key: poison-x-api-key\nX-Poison: poison-header",
  ANTHROPIC_PROFILE: "poison-profile",
  ANTHROPIC_CONFIG_DIR: "/nonexistent/poison",
  ANTHROPIC_LOG: "debug",
  OPENAI_API_KEY: "poison-openai-key",
  OPENAI_ADMIN_KEY: "poison-admin-key",
  OPENAI_BASE_URL: "http://127.0.0.1:9/poison-openai",
  OPENAI_ORG_ID: "poison-org",
  OPENAI_PROJECT_ID: "poison-project",
  OPENAI_CUSTOM_HEADERS: "Authorization: Bearer poison-custom\nOpenAI-Organization: poison-org-header\nX-Poison: poison-header",
  OPENAI_LOG: "debug",
};

/** Sets the poison variables (and silences the console to catch SDK logging) until the test ends. */
function poisonEnvironment(t: TestContext): { logged: string[] } {
  const saved = new Map(Object.keys(POISON_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, POISON_ENV);
  const logged: string[] = [];
  const methods = ["log", "debug", "info", "warn", "error"] as const;
  const original = methods.map((m) => Object.getOwnPropertyDescriptor(console, m));
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
    };
  }
  t.after(() => {
    methods.forEach((m, i) => {
      const descriptor = original[i];
      if (descriptor !== undefined) Object.defineProperty(console, m, descriptor);
    });
    for (const [k, v] of saved) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  });
  return { logged };
}

function assertNoPoison(server: ModelServer, expectedAuth: string | undefined, path: string): void {
  assert.equal(server.requests.length, 1, "the request reached the configured server, not an environment URL");
  const req = server.requests[0];
  assert.ok(req !== undefined);
  assert.equal(req.path, path);
  for (const [name, value] of Object.entries(req.headers)) assert.doesNotMatch(value, /poison/, `header ${name}`);
  assert.equal(req.headers.authorization, expectedAuth);
  assert.equal(req.headers["x-api-key"], undefined);
  assert.equal(req.headers["openai-organization"], undefined);
  assert.equal(req.headers["openai-project"], undefined);
}

test("environment variables the SDKs would read are ignored: keys, tokens, URLs, custom headers, org/project, log level", async (t) => {
  const anthropic = await anthropicServer(t);
  const openai = await openAIServer(t);
  const local = await openAIServer(t);
  const { logged } = poisonEnvironment(t);
  const o = options(
    t,
    {
      anthropic: entry({ api: "anthropic", base_url: anthropic.url }),
      openai: entry({ api: "openai", base_url: openai.url }),
      ollama: entry({ api: "openai", base_url: local.url }),
    },
    { ANTHROPIC_API_KEY: "sk-ant-from-store", OPENAI_API_KEY: "sk-openai-from-store" },
  );

  const a = await createProvider("anthropic/claude-x", o);
  assert.equal((await a.provider.complete(REQUEST)).text, "from anthropic");
  assertNoPoison(anthropic, "Bearer sk-ant-from-store", "/v1/messages");

  const b = await createProvider("openai/gpt-x", o);
  assert.equal((await b.provider.complete(REQUEST)).text, "from openai");
  assertNoPoison(openai, "Bearer sk-openai-from-store", "/v1/chat/completions");

  const c = await createProvider("ollama/llama3.1", o);
  assert.equal((await c.provider.complete(REQUEST)).text, "from openai");
  assertNoPoison(local, undefined, "/v1/chat/completions");

  assert.deepEqual(logged, [], "the SDKs log nothing, whatever ANTHROPIC_LOG / OPENAI_LOG say");
});

test("a keyless Anthropic-protocol provider does not fall back to ANTHROPIC_* credentials or profiles", async (t) => {
  const server = await anthropicServer(t);
  poisonEnvironment(t);
  const o = options(t, { localclaude: entry({ api: "anthropic", base_url: server.url, api_key_secret: null }) });
  const { provider } = await createProvider("localclaude/m", o);
  await provider.complete(REQUEST);
  assertNoPoison(server, undefined, "/v1/messages");
});

test("a malformed OPENAI_CUSTOM_HEADERS is CONFIG_INVALID at setup, not a crash later", async (t) => {
  const saved = process.env.OPENAI_CUSTOM_HEADERS;
  process.env.OPENAI_CUSTOM_HEADERS = "not a token: value";
  t.after(() => {
    if (saved === undefined) Reflect.deleteProperty(process.env, "OPENAI_CUSTOM_HEADERS");
    else process.env.OPENAI_CUSTOM_HEADERS = saved;
  });
  await assert.rejects(createProvider("ollama/m", options(t, {})), isAegis("CONFIG_INVALID", /Cannot set up the ollama model provider/));
});
