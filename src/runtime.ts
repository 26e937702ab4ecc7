/**
 * The composition root: from a profile to a working envelope with the real
 * policy and audit log. Adapters (CLI, agent runtime, MCP gateway) build their
 * envelope here so they all get the same stages.
 */
import { openAuditLog } from "./audit/open.ts";
import type { AuditLog } from "./audit/log.ts";
import { openProfile, type Profile } from "./config/profile.ts";
import { parseDuration } from "./policy/constraints.ts";
import { loadPolicyFile } from "./policy/load.ts";
import type { Policy } from "./policy/engine.ts";
import { KnownSecretRedactor } from "./guard/redact.ts";
import { Envelope } from "./envelope/envelope.ts";
import { LocalExecutor } from "./envelope/local-executor.ts";
import { NoApprover, NoSecretBroker, type Approver, type Executor, type SecretBroker } from "./envelope/stages.ts";
import { BUILTIN_TOOLS } from "./tools/index.ts";

export interface RuntimeOptions {
  readonly approver?: Approver;
  readonly broker?: SecretBroker;
  readonly executor?: Executor;
  /** Run process tools on the host without a sandbox (recorded in the audit log). */
  readonly unsafeHost?: boolean;
  readonly actor?: string;
}

export interface Runtime {
  readonly profile: Profile;
  readonly policy: Policy;
  readonly audit: AuditLog;
  readonly envelope: Envelope;
  close(): Promise<void>;
}

export function loadProfilePolicy(profile: Profile): Policy {
  return loadPolicyFile(profile.paths.policy, profile.policyVars);
}

export async function openRuntime(home: string, options: RuntimeOptions = {}): Promise<Runtime> {
  const profile = openProfile(home);
  const policy = loadProfilePolicy(profile);
  const audit = await openAuditLog(profile.paths, { checkpointEvery: profile.config.audit.checkpoint_every });
  try {
    const executor = options.executor ?? new LocalExecutor({ workspace: profile.workspace, dataDir: profile.paths.dataDir, unsafeHost: options.unsafeHost === true });
    if (!profile.config.sandbox.required) {
      await audit.append({ kind: "system", actor: options.actor ?? "cli", action: "sandbox.not-required", resource: "config.yaml", decision: "info", detail: { note: "sandbox.required is false in config.yaml: process tools may run without a sandbox when one is chosen" } });
    }
    if (options.unsafeHost) {
      await audit.append({
        kind: "system",
        actor: options.actor ?? "cli",
        action: "sandbox.unsafe-host",
        resource: "shell.exec",
        decision: "info",
        detail: { note: "process tools run on the host without a sandbox for this run (--unsafe-host)", sandboxRequired: profile.config.sandbox.required },
      });
    }
    const envelope = new Envelope({
      policy,
      audit,
      approver: options.approver ?? new NoApprover(),
      broker: options.broker ?? new NoSecretBroker(),
      executor,
      redactor: new KnownSecretRedactor(),
      workspace: profile.workspace,
      approvalTimeoutMs: parseDuration(profile.config.approvals.timeout) ?? 600_000,
    });
    for (const tool of BUILTIN_TOOLS) envelope.register(tool);
    return { profile, policy, audit, envelope, close: () => audit.close() };
  } catch (err) {
    await audit.close();
    throw err;
  }
}
