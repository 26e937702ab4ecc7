/**
 * Whether a skill can be active here, and if not, every reason why. Checked
 * in this order, like OpenClaw:
 *
 *  1. disabled — its name is in `<profile>/skills.yaml` `disabled:`;
 *  2. wrong OS — `os` is set and does not list this platform (OpenClaw's
 *     names: darwin, linux, win32 — i.e. process.platform);
 *  3. requires.bins — each must be an executable file in a PATH directory;
 *     requires.anyBins — at least one must be;
 *  4. requires.env — each must be a secret in the secret store (AegisClaw
 *     hands skills secrets only from the store, so a variable in the
 *     environment does not count); when the store could not be read without a
 *     passphrase prompt, or does not exist, the state is "unknown";
 *  5. requires.config — each key must be set in skills.yaml `config:`.
 *
 * `always: true` (OpenClaw: include the skill whatever its requirements)
 * skips 3–5: they are still reported, as not blocking. Disabled and OS always
 * apply.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { SkillManifest } from "./skill-md.ts";
import { configHas } from "./settings.ts";

export type SkillStatusKind = "disabled" | "wrong-os" | "missing-bin" | "missing-any-bin" | "missing-secret" | "secret-unknown" | "missing-config";

export interface SkillStatusReason {
  readonly kind: SkillStatusKind;
  readonly message: string;
  /** False for requirements `always: true` skips, and for secrets that could not be checked. */
  readonly blocking: boolean;
}

export interface SkillStatus {
  /** active: every requirement met; inactive: a blocking reason; unknown: only unchecked secrets stand in the way. */
  readonly state: "active" | "inactive" | "unknown";
  readonly active: boolean;
  readonly reasons: readonly SkillStatusReason[];
}

/** What the secret store says, read without prompting. */
export type SecretNames = { readonly known: true; readonly names: ReadonlySet<string> } | { readonly known: false; readonly reason: string };

export interface EligibilityContext {
  /** The PATH to search for bins. */
  readonly path: string | undefined;
  readonly platform: string;
  readonly secrets: SecretNames;
  readonly disabled: ReadonlySet<string>;
  readonly config: Readonly<Record<string, unknown>>;
  /** skills.yaml, for messages. */
  readonly settingsFile: string;
}

/** The executable `bin` would run as from this PATH, or undefined. Empty and relative PATH entries are skipped: they mean "wherever you are". */
export function findOnPath(bin: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "" || !isAbsolute(dir)) continue;
    const candidate = join(dir, bin);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

export function skillStatus(manifest: SkillManifest, ctx: EligibilityContext): SkillStatus {
  const reasons: SkillStatusReason[] = [];
  const requirement = !manifest.always;
  const note = manifest.always ? " (always: true, so it does not block)" : "";
  if (ctx.disabled.has(manifest.name)) reasons.push({ kind: "disabled", message: `disabled in ${ctx.settingsFile}`, blocking: true });
  if (manifest.os.length > 0 && !manifest.os.includes(ctx.platform)) {
    reasons.push({ kind: "wrong-os", message: `runs on ${manifest.os.join(", ")}, not ${ctx.platform}`, blocking: true });
  }
  for (const bin of manifest.requires.bins) {
    if (findOnPath(bin, ctx.path) === undefined) reasons.push({ kind: "missing-bin", message: `${bin} is not on PATH${note}`, blocking: requirement });
  }
  const anyBins = manifest.requires.anyBins;
  if (anyBins.length > 0 && !anyBins.some((bin) => findOnPath(bin, ctx.path) !== undefined)) {
    reasons.push({ kind: "missing-any-bin", message: `none of ${anyBins.join(", ")} is on PATH${note}`, blocking: requirement });
  }
  for (const name of manifest.requires.env) {
    if (!ctx.secrets.known) {
      reasons.push({ kind: "secret-unknown", message: `${name}: unknown, ${ctx.secrets.reason}`, blocking: false });
    } else if (!ctx.secrets.names.has(name)) {
      reasons.push({ kind: "missing-secret", message: `secret ${name} is not in the secret store (add it: aegisclaw secrets set ${name})${note}`, blocking: requirement });
    }
  }
  for (const key of manifest.requires.config) {
    if (!configHas(ctx.config, key)) reasons.push({ kind: "missing-config", message: `config ${key} is not set under config: in ${ctx.settingsFile}${note}`, blocking: requirement });
  }
  const state = reasons.some((r) => r.blocking) ? "inactive" : !manifest.always && reasons.some((r) => r.kind === "secret-unknown") ? "unknown" : "active";
  return { state, active: state === "active", reasons };
}
