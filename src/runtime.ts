/**
 * The composition root: from a profile to a working envelope with the real
 * policy and audit log. Adapters (CLI, agent runtime, MCP gateway) build their
 * envelope here so they all get the same stages.
 */
import { openAuditLog } from "./audit/open.ts";
import type { AuditLog } from "./audit/log.ts";
import { openProfile, type Profile } from "./config/profile.ts";
import { AegisError, EXIT } from "./errors.ts";
import { parseDuration } from "./policy/constraints.ts";
import { parseScope } from "./policy/scope.ts";
import { loadPolicyFile } from "./policy/load.ts";
import type { Policy } from "./policy/engine.ts";
import { OutputRedactor, configuredDetectors } from "./guard/redact.ts";
import { existsQuiet, loadProfileIdentities, type PassphraseSource } from "./secrets/identity.ts";
import { SecretStore } from "./secrets/store.ts";
import { StoreSecretBroker, type SkillSecretDeclarations } from "./secrets/broker.ts";
import { Envelope } from "./envelope/envelope.ts";
import type { Action } from "./envelope/action.ts";
import { LocalExecutor } from "./envelope/local-executor.ts";
import { NoApprover, NoSecretBroker, type Approver, type Executor, type SecretBroker } from "./envelope/stages.ts";
import { BUILTIN_TOOLS } from "./tools/index.ts";
import { SandboxExecutor } from "./sandbox/executor.ts";
import { loadSkillCatalog, type SkillCatalog } from "./skills/index.ts";
import { exceedsSkill } from "./skills/ceiling.ts";
import { createSkillLoadTool } from "./tools/skills-load.ts";
import type { Secret } from "./secrets/secret.ts";
import { sandboxBackend, type SandboxBackendChoice } from "./sandbox/index.ts";
import { createLogger, type LogDestination, type LogLevel, type Logger } from "./telemetry/logger.ts";

export interface RuntimeOptions {
  readonly approver?: Approver;
  readonly broker?: SecretBroker;
  readonly executor?: Executor;
  /** Run process tools on the host without a sandbox (recorded in the audit log). */
  readonly unsafeHost?: boolean;
  readonly actor?: string;
  /** Which secrets each skill declares; default the profile's skill catalog (workspace, .agents, managed skills). */
  readonly skills?: SkillSecretDeclarations;
  /** Asked when the profile's age identity is passphrase-protected. */
  readonly passphrase?: PassphraseSource;
  /** The sandbox backend (default: config.yaml sandbox.backend). */
  readonly backend?: SandboxBackendChoice;
  /** Log level; default $AEGISCLAW_LOG_LEVEL, else `warn` (commands print their own results). */
  readonly logLevel?: LogLevel;
  /** Where log lines go; default standard error. */
  readonly logDestination?: LogDestination;
}

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function logLevel(options: RuntimeOptions): LogLevel {
  if (options.logLevel !== undefined) return options.logLevel;
  const fromEnv = process.env.AEGISCLAW_LOG_LEVEL;
  if (fromEnv === undefined || fromEnv === "") return "warn";
  if (!LOG_LEVELS.includes(fromEnv)) throw new AegisError("USAGE", `AEGISCLAW_LOG_LEVEL=${fromEnv.slice(0, 32)} is not a log level; use one of ${LOG_LEVELS.join(", ")}.`, { exitCode: EXIT.usage });
  return fromEnv as LogLevel;
}

/**
 * Tools run in the configured sandbox; only --unsafe-host runs processes on
 * the host. Egress decisions of sandboxed processes go to the audit log.
 */
function profileExecutor(profile: Profile, policy: Policy, audit: AuditLog, scrub: (text: string) => string, options: RuntimeOptions): Executor {
  const base = { workspace: profile.workspace, dataDir: profile.paths.dataDir };
  if (options.unsafeHost === true) return new LocalExecutor({ ...base, unsafeHost: true });
  return new SandboxExecutor({
    ...base,
    // A path under a mount is hidden when policy would deny this action reading (or writing) it directly.
    mayExpose: (path, write, action) => {
      try {
        const scope = parseScope(`files.${write ? "write" : "read"}:${path}`, { resolveSymlinks: false });
        return policy.decide({ tool: action.tool, scopes: [scope], args: {}, skill: action.skill, labels: action.labels, actor: action.actor }).decision !== "deny";
      } catch {
        return false;
      }
    },
    backend: sandboxBackend(options.backend ?? profile.config.sandbox.backend, { image: profile.config.sandbox.image, dockerRuntime: profile.config.sandbox.docker_runtime }),
    // The host name is chosen by the tool, so it can carry a secret (https://$TOKEN.example/): scrubbed like any output.
    onEgress: (e) =>
      audit.append({ kind: "egress", actor: "sandbox", action: "net.connect", resource: scrub(`${e.host}:${String(e.port)}`), decision: e.allowed ? "allow" : "deny", detail: { id: e.action, skill: e.skill ?? null, reason: e.reason === undefined ? null : scrub(e.reason) } }),
  });
}

/**
 * The broker over the profile's secret store, or none when the profile has no
 * store yet. A store that exists but cannot be opened (wrong identity,
 * tampered file) is an error: running on would leave its values unredacted.
 */
async function profileBroker(profile: Profile, policy: Policy, declarations: SkillSecretDeclarations, options: RuntimeOptions): Promise<SecretBroker> {
  const paths = profile.paths;
  if (!existsQuiet(paths.secretsFile)) return new NoSecretBroker();
  return StoreSecretBroker.create({
    source: {
      file: paths.secretsFile,
      open: async () => SecretStore.open(paths, (await loadProfileIdentities(paths, { passphrase: options.passphrase })).identities),
    },
    grants: policy,
    declarations,
  });
}

export interface Runtime {
  readonly profile: Profile;
  readonly policy: Policy;
  readonly audit: AuditLog;
  readonly envelope: Envelope;
  /** Scrubs every line of known secret values and detected credentials. */
  readonly logger: Logger;
  /** The profile's skills (undefined when the caller supplied its own secret declarations). */
  readonly catalog: SkillCatalog | undefined;
  /** Removes known secret values and detected credentials from text. */
  scrub(text: string): string;
  /** A secret the runtime itself uses (a model API key, the HTTP API token); never given to tools. */
  runtimeSecret(name: string): Promise<Secret | undefined>;
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
    // The broker and redactor come first: the executor scrubs what it records with them.
    const catalog = options.skills === undefined ? loadSkillCatalog({ workspace: profile.workspace, profileHome: profile.paths.home }) : undefined;
    const broker = options.broker ?? (await profileBroker(profile, policy, options.skills ?? (catalog as SkillCatalog), options));
    const redactor = new OutputRedactor({ detectors: configuredDetectors(profile.config.redaction) });
    const scrub = (text: string): string => redactor.redact(text, broker.knownValues()).text;
    const executor = options.executor ?? profileExecutor(profile, policy, audit, scrub, options);
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
    const logger = createLogger({ level: logLevel(options), destination: options.logDestination, scrub });
    const envelope = new Envelope({
      policy,
      audit,
      approver: options.approver ?? new NoApprover(),
      broker,
      executor,
      redactor,
      log: logger,
      workspace: profile.workspace,
      approvalTimeoutMs: parseDuration(profile.config.approvals.timeout) ?? 600_000,
      // An action on behalf of a skill never reaches past what its SKILL.md declares; an unknown skill gets nothing.
      ...(catalog === undefined
        ? {}
        : {
            skillCeiling: (skill: string, action: Action) => {
              const found = catalog.get(skill);
              return found === undefined ? `no skill named ${skill} is installed (aegisclaw skills list)` : exceedsSkill(found, action, catalog.workspace);
            },
          }),
    });
    for (const tool of BUILTIN_TOOLS) envelope.register(tool);
    if (catalog !== undefined) envelope.register(createSkillLoadTool(catalog));
    const runtimeSecret = async (name: string): Promise<Secret | undefined> => {
      if (!existsQuiet(profile.paths.secretsFile)) return undefined;
      const store = await SecretStore.open(profile.paths, (await loadProfileIdentities(profile.paths, { passphrase: options.passphrase })).identities);
      try {
        return store.has(name) ? store.get(name) : undefined;
      } finally {
        store.close();
      }
    };
    return { profile, policy, audit, envelope, logger, catalog, scrub, runtimeSecret, close: () => audit.close() };
  } catch (err) {
    await audit.close();
    throw err;
  }
}
