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
