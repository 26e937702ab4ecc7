/** config.yaml: parsed with zod; every field has a secure default. */
import { z } from "zod";

export const CONFIG_VERSION = 1;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export const ConfigSchema = z
  .object({
    version: z.number().int().positive(),
    workspace: z.string().min(1).describe("the agent's workspace directory; ~ means your home"),
    gateway: z
      .object({
        bind: z.string().regex(LOOPBACK, "the gateway binds loopback only (127.0.0.1 or ::1); put a reverse proxy with authentication in front of it to reach it remotely").default("127.0.0.1"),
        port: z.number().int().min(1).max(65535).default(18789),
      })
      .strict()
      .default({ bind: "127.0.0.1", port: 18789 }),
    sandbox: z
      .object({
        required: z.boolean().default(true).describe("refuse to run process tools without a sandbox"),
        backend: z.enum(["auto", "bubblewrap", "gvisor", "docker"]).default("auto"),
        image: z
          .string()
          .regex(/^[^\s@]+@sha256:[0-9a-f]{64}$/, "pin the image by digest: name@sha256:<64 hex digits> (a tag can be moved to point at another image)")
          .optional()
          .describe("the Docker image tools run in, pinned by digest (docker backend only)"),
        docker_runtime: z.enum(["runc", "runsc"]).optional().describe("runsc runs Docker containers under gVisor"),
      })
      .strict()
      .default({ required: true, backend: "auto" }),
    approvals: z
      .object({ timeout: z.string().regex(/^\d+\s*(s|m|h)$/, "use a duration like 90s, 10m, 1h").default("10m") })
      .strict()
      .default({ timeout: "10m" }),
    audit: z
      .object({ checkpoint_every: z.number().int().min(1).max(1_000_000).default(1000) })
      .strict()
      .default({ checkpoint_every: 1000 }),
    agent: z
      .object({
        model: z
          .string()
          .regex(/^[a-z0-9][a-z0-9_-]*\/\S+$/, "name the model as provider/model, e.g. anthropic/claude-sonnet-4-5, openai/gpt-4.1, ollama/llama3.1")
          .optional()
          .describe("the model the agent uses, in OpenClaw's provider/model form"),
        providers: z
          .record(
            z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "provider names are lower-case letters, digits, - and _"),
            z
              .object({
                api: z.enum(["anthropic", "openai"]).describe("the wire protocol: Anthropic Messages or OpenAI Chat Completions"),
                base_url: z.url({ protocol: /^https?$/ }).optional().describe("the API's base URL (default: the vendor's)"),
                api_key_secret: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).nullable().optional().describe("the name of the secret in the store that holds the API key; null for a local server without keys"),
                max_retries: z.number().int().min(0).max(10).default(2),
                timeout: z.string().regex(/^\d+\s*(s|m)$/, "use a duration like 60s or 2m").default("120s"),
              })
              .strict(),
          )
          .default({}),
        limits: z
          .object({
            model_calls_per_message: z.number().int().min(1).max(200).default(16).describe("model round trips for one user message"),
            tool_calls_per_message: z.number().int().min(0).max(500).default(32).describe("tool calls for one user message; more are refused"),
            tool_output_chars: z.number().int().min(256).max(1_000_000).default(32_000).describe("tool output given back to the model, per call"),
            max_output_tokens: z.number().int().min(16).max(200_000).default(4096),
            message_timeout: z.string().regex(/^\d+\s*(s|m|h)$/, "use a duration like 90s, 10m, 1h").default("10m").describe("wall-clock limit for answering one message"),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    redaction: z
      .object({
        email: z.boolean().default(false).describe("also redact e-mail addresses from tool output"),
        phone: z.boolean().default(false).describe("also redact phone numbers from tool output"),
        disable: z.array(z.string().min(1)).default([]).describe("detector ids to switch off (aegisclaw doctor lists them)"),
      })
      .strict()
      .default({ email: false, phone: false, disable: [] }),
  })
  .strict();
export type Config = z.infer<typeof ConfigSchema>;

export function defaultConfigYaml(workspace: string): string {
  return `# AegisClaw configuration. Every value here has a secure default; change with care.
version: ${CONFIG_VERSION}

# The agent's workspace: the only place file tools may read by default (see policy.yaml).
workspace: ${JSON.stringify(workspace)}

gateway:
  # Loopback only. AegisClaw refuses any other address.
  bind: 127.0.0.1
  port: 18789

sandbox:
  # Tools that start processes run only inside a sandbox. Setting this to false
  # is recorded in the audit log on every start.
  required: true
  backend: auto   # auto (bubblewrap) | bubblewrap | gvisor | docker

approvals:
  # Unanswered approval requests are denied after this long.
  timeout: 10m

audit:
  # A signed checkpoint is written every N entries and on every clean shutdown.
  checkpoint_every: 1000

redaction:
  # Known secret values and credentials/PII that detectors recognise are
  # removed from everything tools return. E-mail addresses and phone numbers
  # are often what the user asked for, so they are kept unless enabled here.
  email: false
  phone: false
  disable: []   # detector ids to switch off, e.g. [generic-high-entropy-assignment]
`;
}
