/**
 * SKILL.md as OpenClaw writes it: YAML frontmatter between two `---` lines,
 * then markdown instructions for the model. `parseSkillMd` turns the text into
 * a typed manifest or refuses it with an error naming the file and line.
 * Pure: it never touches the file system (the folder name, used when the
 * frontmatter has no `name`, comes from the path string).
 *
 * Frontmatter keys: `name`, `description` (required), `homepage`,
 * `user-invocable`, `disable-model-invocation`, `allowed-tools`, `metadata`.
 * Other keys are ignored, as OpenClaw does. `metadata` is a JSON5 object —
 * written as a (usually single-line) JSON5 string or as a YAML mapping —
 * whose `openclaw` key (legacy: `clawdbot`) holds `emoji`, `always`, `os`,
 * `primaryEnv`, `skillKey`, `homepage`, `requires {bins, anyBins, env,
 * config}` and `install[]`; its `aegisclaw` key is our extension for what
 * OpenClaw cannot say (`scopes`, `network.allow`, `mounts`, `secrets`,
 * `risk`), checked strictly: a typo in a security declaration must be loud.
 *
 * Hostile input is refused, never repaired: a SKILL.md over 1 MiB,
 * frontmatter over 64 KiB, YAML anchors, aliases or tags (alias expansion is
 * how YAML bombs work; no SKILL.md needs them), duplicate keys, a name that is
 * not `^[a-z0-9][a-z0-9._-]{0,63}$` or looks like a path, metadata that is not
 * JSON5, install kinds other than brew/node/go/uv/download, non-string or
 * path-like `bins`, env names that are not secret names.
 *
 * Names: ASCII upper-case letters are folded to lower case (OpenClaw names are
 * kebab-case, and policy compares skill names case-folded anyway), with a
 * warning; anything else outside the pattern is refused.
 */
import { basename, dirname } from "node:path";
import JSON5 from "json5";
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Document } from "yaml";
import { z } from "zod";
import { AegisError } from "../errors.ts";
import type { SecretDelivery } from "../secrets/broker.ts";

export const MAX_SKILL_MD_BYTES = 1 << 20;
export const MAX_FRONTMATTER_BYTES = 64 << 10;
export const SKILL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The secret store's name rule (secrets/store.ts), repeated so this module stays free of the store's dependencies. */
const SECRET_NAME_RE = /^[A-Z_][A-Z0-9_]{0,127}$/;
/** A bare program name, the rule `shell.exec:<bin>` scopes use (policy/scope.ts). */
const BIN_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const CONFIG_KEY_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const OS_RE = /^[a-z0-9]+$/;
// C0/C1 controls, line separators, bidi and zero-width characters: never legitimate in a tool name.
// eslint-disable-next-line no-control-regex
const INVISIBLE_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;

export const INSTALL_KINDS = ["brew", "node", "go", "uv", "download"] as const;
export type InstallKind = (typeof INSTALL_KINDS)[number];
export type SkillRisk = "low" | "medium" | "high";

export interface SkillInstallSpec {
  readonly id?: string | undefined;
  readonly kind: InstallKind;
  readonly label?: string | undefined;
  readonly formula?: string | undefined;
  readonly package?: string | undefined;
  readonly module?: string | undefined;
  readonly url?: string | undefined;
  readonly bins: readonly string[];
  readonly os: readonly string[];
  readonly archive?: string | undefined;
  readonly extract?: boolean | undefined;
  readonly stripComponents?: number | undefined;
  readonly targetDir?: string | undefined;
}

export interface SkillRequirements {
  /** Every one must be on PATH. */
  readonly bins: readonly string[];
  /** At least one must be on PATH. */
  readonly anyBins: readonly string[];
  /** Secret names (OpenClaw: environment variables). */
  readonly env: readonly string[];
  /** Keys that must be set in the profile's skills.yaml `config:` map. */
  readonly config: readonly string[];
}

/** `metadata.aegisclaw`, as written (paths and hosts are canonicalised later, by the grant). */
export interface SkillAegisExtension {
  readonly scopes: readonly string[];
  readonly network: readonly string[];
  readonly mounts: readonly { readonly path: string; readonly rw: boolean }[];
  readonly secrets: Readonly<Record<string, SecretDelivery>>;
  readonly risk: SkillRisk | undefined;
}

export interface SkillManifest {
  /** Canonical name: validated, ASCII folded to lower case. */
  readonly name: string;
  /** The `name` as written, when there was one. */
  readonly declaredName: string | undefined;
  readonly description: string;
  readonly homepage: string | undefined;
  readonly userInvocable: boolean;
  readonly disableModelInvocation: boolean;
  /** `allowed-tools`: the only tools the instructions may invoke; undefined when the skill does not say. */
  readonly allowedTools: readonly string[] | undefined;
  /** Which metadata key the OpenClaw block came from. */
  readonly metadataKey: "openclaw" | "clawdbot" | undefined;
  readonly emoji: string | undefined;
  readonly always: boolean;
  /** OpenClaw platform names (darwin, linux, win32); empty: any. */
  readonly os: readonly string[];
  readonly primaryEnv: string | undefined;
  readonly skillKey: string | undefined;
  readonly requires: SkillRequirements;
  readonly install: readonly SkillInstallSpec[];
  readonly aegisclaw: SkillAegisExtension | undefined;
  /** The frontmatter as parsed (metadata as the object it denotes). */
  readonly frontmatter: Readonly<Record<string, unknown>>;
  readonly body: string;
  /** The file line the body starts on. */
  readonly bodyLine: number;
  readonly warnings: readonly string[];
}

/** A refusal: CONFIG_INVALID, message `FILE:LINE: what`, details {file, line, name?}. */
function refuse(file: string, line: number | undefined, message: string, name?: string): AegisError {
  return new AegisError("CONFIG_INVALID", `${file}${line === undefined ? "" : `:${line}`}: ${message}`, {
    details: { file, ...(line !== undefined ? { line } : {}), ...(name !== undefined ? { name } : {}) },
  });
}

/** A value from the file, quoted and shortened for a message (the CLI makes control characters visible). */
function quote(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  // JSON escapes control characters but not bidi or zero-width ones: escape those too, so a message shows what is there.
  const escaped = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return escaped.replace(new RegExp(INVISIBLE_RE.source, "gu"), (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

export interface SplitSkillMd {
  readonly frontmatter: string;
  /** The file line the frontmatter's first line is on. */
  readonly frontmatterLine: number;
  readonly body: string;
  readonly bodyLine: number;
}

/** Splits the frontmatter from the body, enforcing the size limits before any YAML is parsed. */
export function splitSkillMd(text: string, file: string): SplitSkillMd {
  if (Buffer.byteLength(text, "utf8") > MAX_SKILL_MD_BYTES) {
    throw refuse(file, undefined, `SKILL.md is larger than ${MAX_SKILL_MD_BYTES / (1 << 20)} MiB; refused (a skill's instructions are a few KiB)`);
  }
  const src = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const open = /^---[ \t]*\r?\n/.exec(src);
  if (!open) throw refuse(file, 1, "does not start with YAML frontmatter (a line `---`, then `name:` and `description:`, then `---`)");
  const start = open[0].length;
  let pos = start;
  let line = 2;
  for (;;) {
    if (pos - start > MAX_FRONTMATTER_BYTES) break;
    const nl = src.indexOf("\n", pos);
    const lineText = src.slice(pos, nl === -1 ? src.length : nl).replace(/\r$/, "");
    if (/^---[ \t]*$/.test(lineText)) {
      const frontmatter = src.slice(start, pos);
      if (Buffer.byteLength(frontmatter, "utf8") > MAX_FRONTMATTER_BYTES) break;
      return { frontmatter, frontmatterLine: 2, body: nl === -1 ? "" : src.slice(nl + 1), bodyLine: line + 1 };
    }
    if (nl === -1) throw refuse(file, 1, "the frontmatter is never closed (no second `---` line)");
    pos = nl + 1;
    line += 1;
  }
  throw refuse(file, 1, `the frontmatter is larger than ${MAX_FRONTMATTER_BYTES / 1024} KiB; refused (frontmatter is a few fields)`);
}

interface ParsedYaml {
  readonly value: Record<string, unknown>;
  readonly doc: Document;
  readonly counter: LineCounter;
}

function nodeLine(node: unknown, counter: LineCounter, offset: number): number | undefined {
  const range = (node as { range?: unknown } | null)?.range;
  return Array.isArray(range) && typeof range[0] === "number" ? counter.linePos(range[0]).line + offset : undefined;
}

function parseFrontmatterYaml(split: SplitSkillMd, file: string): ParsedYaml {
  const offset = split.frontmatterLine - 1;
  const counter = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(split.frontmatter, { lineCounter: counter, uniqueKeys: true, merge: false, prettyErrors: false, version: "1.2", schema: "core" });
  } catch (err) {
    throw refuse(file, split.frontmatterLine, `the frontmatter could not be parsed (${err instanceof RangeError ? "nested too deeply" : String(err)})`);
  }
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    throw refuse(file, counter.linePos(firstError.pos[0]).line + offset, `the frontmatter is not valid YAML: ${firstError.message.split("\n")[0] ?? firstError.message}`);
  }
  // Before anything is converted: an alias is expanded by toJS, which is exactly the bomb.
  let refusal: AegisError | undefined;
  try {
    visit(doc, {
      Alias(_key, node) {
        refusal = refuse(file, nodeLine(node, counter, offset), `YAML aliases (*${node.source}) are refused in SKILL.md frontmatter (alias expansion is how YAML bombs work; write the value out)`);
        return visit.BREAK;
      },
      Node(_key, node) {
        if (node.anchor !== undefined) {
          refusal = refuse(file, nodeLine(node, counter, offset), `YAML anchors (&${node.anchor}) are refused in SKILL.md frontmatter (they exist to be aliased; write the value out)`);
          return visit.BREAK;
        }
        if (node.tag !== undefined) {
          refusal = refuse(file, nodeLine(node, counter, offset), `YAML tags (${node.tag}) are refused in SKILL.md frontmatter; write plain values`);
          return visit.BREAK;
        }
        return undefined;
      },
    });
  } catch (err) {
    throw refuse(file, split.frontmatterLine, `the frontmatter could not be parsed (${err instanceof RangeError ? "nested too deeply" : String(err)})`);
  }
  if (refusal) throw refusal;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (err) {
    throw refuse(file, split.frontmatterLine, `the frontmatter could not be parsed (${err instanceof RangeError ? "nested too deeply" : String(err)})`);
  }
  if (value === null || value === undefined) throw refuse(file, split.frontmatterLine, "the frontmatter is empty; `name` and `description` are required");
  if (!isMap(doc.contents)) throw refuse(file, split.frontmatterLine, "the frontmatter must be a YAML mapping of fields (`name: …`, `description: …`)");
  return { value: value as Record<string, unknown>, doc, counter };
}

// ---------------------------------------------------------------------------
// Schemas

const Flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")], { error: "must be true or false" });

const Bin = z.string().superRefine((s, ctx) => {
  if (s.includes("/") || s.includes("\\")) ctx.addIssue({ code: "custom", message: `${quote(s)} is a path; a bin is a bare program name looked up on PATH (e.g. "gh")` });
  else if (/\s/.test(s)) ctx.addIssue({ code: "custom", message: `${quote(s)} contains white space; a bin is one bare program name (e.g. "gh")` });
  else if (!BIN_RE.test(s)) ctx.addIssue({ code: "custom", message: `${quote(s)} is not a program name (letters, digits, '.', '_', '+', '-')` });
});
const BinList = z.array(Bin).max(64, "at most 64 programs");
const EnvName = z.string().regex(SECRET_NAME_RE, "an env/secret name is upper-case letters, digits and _ (e.g. GH_TOKEN)");
const OsList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(z.string().regex(OS_RE, "an OS is an OpenClaw platform name: darwin, linux or win32")).max(16));
const ShortText = z.string().max(4096);

const InstallSpecSchema = z.object({
  id: ShortText.optional(),
  kind: z.enum(INSTALL_KINDS, { error: (iss) => `unknown install kind ${quote(iss.input)}: AegisClaw understands ${INSTALL_KINDS.join(", ")} (and never runs any of them by itself)` }),
  label: ShortText.optional(),
  formula: ShortText.optional(),
  package: ShortText.optional(),
  module: ShortText.optional(),
  url: ShortText.optional(),
  bins: BinList.optional(),
  os: OsList.optional(),
  archive: ShortText.optional(),
  extract: z.boolean().optional(),
  stripComponents: z.number().int().min(0).max(64).optional(),
  targetDir: ShortText.optional(),
});

const RequiresSchema = z.object({
  bins: BinList.optional(),
  anyBins: BinList.optional(),
  env: z.array(EnvName).max(64, "at most 64 names").optional(),
  config: z.array(z.string().regex(CONFIG_KEY_RE, "a config key is dot-separated words (e.g. channels.discord.token)")).max(64, "at most 64 keys").optional(),
});

/** OpenClaw's block: unknown keys are ignored (OpenClaw adds keys over time), known ones are typed. */
const OpenClawSchema = z.object({
  emoji: ShortText.optional(),
  always: z.boolean().optional(),
  os: OsList.optional(),
  primaryEnv: EnvName.optional(),
  skillKey: ShortText.optional(),
  homepage: ShortText.optional(),
  requires: RequiresSchema.optional(),
  install: z.array(InstallSpecSchema).max(32, "at most 32 install specs").optional(),
});

/** Our extension: strict, because a misspelt security declaration must not be silently ignored. */
const AegisSchema = z.strictObject({
  scopes: z.array(z.string().min(1).max(4096)).max(64, "at most 64 scopes").optional(),
  network: z.strictObject({ allow: z.array(z.string().min(1).max(255)).max(64, "at most 64 hosts") }).optional(),
  mounts: z
    .array(z.strictObject({ path: z.string().min(1).max(4096), rw: z.boolean().optional() }))
    .max(32, "at most 32 mounts")
    .optional(),
  secrets: z.record(EnvName, z.enum(["env", "file"], { error: "a secret's delivery is \"env\" or \"file\"" })).optional(),
  risk: z.enum(["low", "medium", "high"], { error: "risk is low, medium or high" }).optional(),
});

const ToolName = z
  .string()
  .trim()
  .min(1, "a tool name is not empty")
  .max(128, "a tool name is at most 128 characters")
  .refine((s) => !INVISIBLE_RE.test(s) && !s.includes(","), "a tool name has no control, invisible or comma characters");

const FrontmatterSchema = z.object({
  name: z.unknown().optional(),
  description: z.string({ error: (iss) => (iss.input === undefined ? "`description` is required: say what the skill does and when to use it" : "`description` must be text") }).trim().min(1, "`description` is empty"),
  homepage: ShortText.optional(),
  "user-invocable": Flag.optional(),
  "disable-model-invocation": Flag.optional(),
  "allowed-tools": z
    .union([z.array(ToolName), z.string().transform((s) => s.split(",").map((t) => t.trim()).filter((t) => t !== ""))])
    .pipe(z.array(ToolName).max(128, "at most 128 tools"))
    .optional(),
  metadata: z.unknown().optional(),
});

// ---------------------------------------------------------------------------

function issuesError(file: string, issues: readonly z.core.$ZodIssue[], lineOf: (path: readonly PropertyKey[]) => number, prefix: readonly PropertyKey[], name: string | undefined): AegisError {
  const lines = issues.map((i) => {
    const path = i.code === "unrecognized_keys" && i.keys[0] !== undefined ? [...prefix, ...i.path, i.keys[0]] : [...prefix, ...i.path];
    const message = i.code === "unrecognized_keys" ? `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map(quote).join(", ")} (metadata.aegisclaw accepts scopes, network, mounts, secrets, risk)` : i.message;
    return { line: lineOf(path), text: `${pathText(path)}: ${message}` };
  });
  lines.sort((a, b) => a.line - b.line);
  const first = lines[0];
  const rest = lines.slice(1).map((l) => `\n${file}:${l.line}: ${l.text}`).join("");
  return refuse(file, first?.line, `${first?.text ?? "invalid"}${rest}`, name);
}

function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out || "(frontmatter)";
}

function skillNameOf(raw: unknown, file: string, line: number): { name: string; declared: string | undefined; warnings: string[] } {
  const folder = basename(dirname(file));
  const warnings: string[] = [];
  let declared: string | undefined;
  let text: string;
  if (raw === undefined || raw === null) {
    text = folder;
    warnings.push(`no \`name\` in the frontmatter; using the folder name ${quote(folder)}`);
  } else if (typeof raw !== "string") {
    throw refuse(file, line, "`name` must be text");
  } else {
    declared = raw;
    text = raw;
  }
  if (/[/\\]/.test(text) || text.includes("..")) {
    throw refuse(file, line, `name ${quote(text)} looks like a path (it contains / or \\ or ..); refused: a skill name is one plain word`);
  }
  // Only ASCII is folded: a non-ASCII name is refused below rather than normalised into something else.
  // eslint-disable-next-line no-control-regex
  const folded = /^[\u0000-\u007f]*$/.test(text) ? text.toLowerCase() : text;
  if (!SKILL_NAME_PATTERN.test(folded)) {
    throw refuse(file, line, `name ${quote(text)} is not a skill name: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters (e.g. my-skill)`);
  }
  if (folded !== text) warnings.push(`name ${quote(text)} folded to lower case: ${folded}`);
  // eslint-disable-next-line no-control-regex
  const folderFolded = /^[\u0000-\u007f]*$/.test(folder) ? folder.toLowerCase() : folder;
  if (declared !== undefined && folderFolded !== folded) warnings.push(`name ${folded} differs from its folder name ${quote(folder)}; the name is what counts (precedence, policy, secrets)`);
  return { name: folded, declared, warnings };
}

function parseMetadata(raw: unknown, file: string, line: number, name: string): Record<string, unknown> | undefined {
  if (raw === undefined || raw === null) return undefined;
  let value: unknown = raw;
  if (typeof raw === "string") {
    if (raw.trim() === "") return undefined;
    try {
      value = JSON5.parse(raw);
    } catch (err) {
      throw refuse(file, line, `metadata is not valid JSON5: ${err instanceof Error ? err.message : String(err)}`, name);
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refuse(file, line, "metadata must be a JSON5 object (e.g. { \"openclaw\": { \"requires\": { \"bins\": [\"gh\"] } } })", name);
  }
  return value as Record<string, unknown>;
}

/** Parses SKILL.md text. Throws CONFIG_INVALID naming `file` (and the line) for anything it refuses. */
export function parseSkillMd(text: string, file: string): SkillManifest {
  const split = splitSkillMd(text, file);
  const { value: fm, doc, counter } = parseFrontmatterYaml(split, file);
  const offset = split.frontmatterLine - 1;
  const lineOf = (path: readonly PropertyKey[]): number => {
    for (let len = path.length; len >= 0; len -= 1) {
      const node: unknown = len === 0 ? doc.contents : doc.getIn(path.slice(0, len), true);
      const line = nodeLine(node, counter, offset);
      if (line !== undefined) return line;
    }
    return split.frontmatterLine;
  };

  const { name, declared, warnings } = skillNameOf(fm.name, file, lineOf(["name"]));
  const top = FrontmatterSchema.safeParse(fm);
  if (!top.success) throw issuesError(file, top.error.issues, lineOf, [], name);

  // Issues inside metadata point at the metadata line when it was a JSON5 string, at the exact node when YAML.
  const metadataNode = doc.getIn(["metadata"], true);
  const metadataIsYaml = isMap(metadataNode) || isSeq(metadataNode);
  const metaLineOf = (path: readonly PropertyKey[]): number => (metadataIsYaml ? lineOf(path) : lineOf(["metadata"]));
  if (isScalar(metadataNode) && typeof metadataNode.value !== "string" && metadataNode.value !== null) {
    throw refuse(file, lineOf(["metadata"]), "metadata must be a JSON5 object (or a YAML mapping)", name);
  }
  const metadata = parseMetadata(top.data.metadata, file, lineOf(["metadata"]), name);

  let metadataKey: "openclaw" | "clawdbot" | undefined;
  if (metadata !== undefined && Object.hasOwn(metadata, "openclaw")) metadataKey = "openclaw";
  else if (metadata !== undefined && Object.hasOwn(metadata, "clawdbot")) metadataKey = "clawdbot";
  if (metadataKey === "openclaw" && metadata !== undefined && Object.hasOwn(metadata, "clawdbot")) warnings.push("metadata has both openclaw and the legacy clawdbot block; clawdbot is ignored");
  const rawOpenClaw = metadataKey === undefined ? {} : metadata?.[metadataKey];
  if (typeof rawOpenClaw !== "object" || rawOpenClaw === null || Array.isArray(rawOpenClaw)) {
    throw refuse(file, metaLineOf(["metadata", metadataKey ?? "openclaw"]), `metadata.${metadataKey ?? "openclaw"} must be an object`, name);
  }
  const oc = OpenClawSchema.safeParse(rawOpenClaw);
  if (!oc.success) throw issuesError(file, oc.error.issues, metaLineOf, ["metadata", metadataKey ?? "openclaw"], name);

  const requires: SkillRequirements = {
    bins: [...new Set(oc.data.requires?.bins ?? [])],
    anyBins: [...new Set(oc.data.requires?.anyBins ?? [])],
    env: [...new Set(oc.data.requires?.env ?? [])],
    config: [...new Set(oc.data.requires?.config ?? [])],
  };

  let aegisclaw: SkillAegisExtension | undefined;
  if (metadata !== undefined && Object.hasOwn(metadata, "aegisclaw")) {
    const ag = AegisSchema.safeParse(metadata.aegisclaw);
    if (!ag.success) throw issuesError(file, ag.error.issues, metaLineOf, ["metadata", "aegisclaw"], name);
    const secrets = ag.data.secrets ?? {};
    const undeclared = Object.keys(secrets).filter((s) => !requires.env.includes(s));
    if (undeclared.length > 0) {
      throw refuse(
        file,
        metaLineOf(["metadata", "aegisclaw", "secrets"]),
        `metadata.aegisclaw.secrets sets the delivery of ${undeclared.join(", ")}, which requires.env does not declare; declare ${undeclared.length === 1 ? "it" : "them"} in metadata.openclaw.requires.env`,
        name,
      );
    }
    aegisclaw = {
      scopes: ag.data.scopes ?? [],
      network: ag.data.network?.allow ?? [],
      mounts: (ag.data.mounts ?? []).map((m) => ({ path: m.path, rw: m.rw === true })),
      secrets,
      risk: ag.data.risk,
    };
  }

  const frontmatter: Record<string, unknown> = { ...fm };
  if (metadata !== undefined) frontmatter.metadata = metadata;
  return {
    name,
    declaredName: declared,
    description: top.data.description,
    homepage: top.data.homepage ?? oc.data.homepage,
    userInvocable: top.data["user-invocable"] ?? true,
    disableModelInvocation: top.data["disable-model-invocation"] ?? false,
    allowedTools: top.data["allowed-tools"] === undefined ? undefined : [...new Set(top.data["allowed-tools"])],
    metadataKey,
    emoji: oc.data.emoji,
    always: oc.data.always === true,
    os: oc.data.os ?? [],
    primaryEnv: oc.data.primaryEnv,
    skillKey: oc.data.skillKey,
    requires,
    install: (oc.data.install ?? []).map((spec) => ({ ...spec, bins: spec.bins ?? [], os: spec.os ?? [] })),
    aegisclaw,
    frontmatter,
    body: split.body,
    bodyLine: split.bodyLine,
    warnings,
  };
}
