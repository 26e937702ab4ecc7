/**
 * An agent from a profile: the runtime (policy, audit, broker, sandbox,
 * envelope), the configured model provider with its key from the secret
 * store, the sessions database, and the loop. Every channel (terminal chat,
 * HTTP API, quickstart) opens its agent here, so they all get the same stages.
 */
import { AegisError } from "../errors.ts";
import { parseDuration } from "../policy/constraints.ts";
import { openRuntime, type Runtime, type RuntimeOptions } from "../runtime.ts";
import { Agent, type AgentLimits } from "./loop.ts";
import { createProvider } from "./providers/index.ts";
import type { ModelProvider } from "./providers/types.ts";
import { SessionStore } from "./session-store.ts";
import { buildSystemPrompt } from "./system-prompt.ts";

export interface OpenAgentOptions extends RuntimeOptions {
  /** `provider/model`; default config.yaml `agent.model`. */
  readonly model?: string;
  /** For tests: the fetch the provider SDKs use. */
  readonly fetch?: typeof fetch;
}

export interface OpenedAgent {
  readonly runtime: Runtime;
  readonly agent: Agent;
  readonly sessions: SessionStore;
  readonly provider: ModelProvider;
  readonly modelRef: string;
  close(): Promise<void>;
}

export async function openAgent(home: string, options: OpenAgentOptions = {}): Promise<OpenedAgent> {
  const runtime = await openRuntime(home, options);
  let sessions: SessionStore | undefined;
  try {
    const config = runtime.profile.config.agent;
    const modelRef = options.model ?? config.model;
    if (modelRef === undefined) {
      throw new AegisError(
        "CONFIG_INVALID",
        `No model is configured. Set agent.model in ${runtime.profile.paths.config} (e.g. anthropic/claude-sonnet-4-5, openai/gpt-4.1, ollama/llama3.1) or pass --model; store its API key with \`aegisclaw secrets set ANTHROPIC_API_KEY\`.`,
        { exitCode: 2 },
      );
    }
    const { provider, model } = await createProvider(modelRef, {
      providers: config.providers,
      apiKey: async (name) => (await runtime.runtimeSecret(name))?.reveal(),
      scriptDir: runtime.profile.paths.scriptsDir,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    sessions = SessionStore.open(runtime.profile.paths.sessionsDb);
    const limits: AgentLimits = {
      modelCallsPerMessage: config.limits.model_calls_per_message,
      toolCallsPerMessage: config.limits.tool_calls_per_message,
      toolOutputChars: config.limits.tool_output_chars,
      maxOutputTokens: config.limits.max_output_tokens,
      messageTimeoutMs: parseDuration(config.limits.message_timeout) ?? 600_000,
    };
    const catalog = runtime.catalog;
    const workspace = catalog?.workspace ?? runtime.profile.workspace;
    const agent = new Agent({
      envelope: runtime.envelope,
      provider,
      model,
      modelRef,
      sessions,
      limits,
      systemPrompt: () => buildSystemPrompt({ workspace, catalog, modelLabel: provider.label }),
      scrub: (text) => runtime.scrub(text),
    });
    const store = sessions;
    return {
      runtime,
      agent,
      sessions: store,
      provider,
      modelRef,
      close: async () => {
        await agent.idle();
        store.close();
        await runtime.close();
      },
    };
  } catch (err) {
    sessions?.close();
    await runtime.close();
    throw err;
  }
}
