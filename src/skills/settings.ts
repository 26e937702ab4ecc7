/**
 * `<profile>/skills.yaml`: the owner's switches for skills, kept out of
 * config.yaml so skills can evolve without a config version bump.
 *
 *   # Skills that never load, whatever tier they are in (names, case-folded).
 *   disabled: [sag, voice-call]
 *   # Keys a skill's `requires.config` asks for. Only their presence is checked
 *   # (a value that is null, false or "" counts as absent); nested maps and
 *   # dotted keys are both accepted. Secrets do not belong here: put them in the
 *   # secret store (`aegisclaw secrets set NAME`), which skills reach through
 *   # requires.env.
 *   config:
 *     channels.discord.token: true
 *
 * The file is optional. A file that exists but cannot be read or validated is
 * an error, never "no settings": a broken `disabled:` list must not silently
 * enable the skills it was meant to turn off.
 */
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AegisError } from "../errors.ts";
import { formatProblems, parseYamlWith } from "../config/yaml.ts";

const MAX_SETTINGS_BYTES = 1 << 20;

const SkillSettingsSchema = z
  .object({
    version: z.literal(1, { error: "this AegisClaw understands skills.yaml version 1" }).optional(),
    disabled: z.array(z.string().min(1).max(128)).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export interface SkillSettings {
  readonly file: string;
  readonly exists: boolean;
  /** Folded names. */
  readonly disabled: ReadonlySet<string>;
  readonly config: Readonly<Record<string, unknown>>;
}

export function skillSettingsPath(profileHome: string): string {
  return join(profileHome, "skills.yaml");
}

/** Reads `<profile>/skills.yaml`; absent means nothing disabled and no config. */
export function loadSkillSettings(profileHome: string): SkillSettings {
  const file = skillSettingsPath(profileHome);
  let st;
  try {
    st = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { file, exists: false, disabled: new Set(), config: {} };
    throw new AegisError("CONFIG_INVALID", `Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`, { cause: err });
  }
  if (st.isSymbolicLink()) throw new AegisError("CONFIG_INVALID", `Refusing ${file}: it is a symbolic link. Replace it with the file it points to.`);
  if (!st.isFile()) throw new AegisError("CONFIG_INVALID", `${file} is not a regular file.`);
  if (st.size > MAX_SETTINGS_BYTES) throw new AegisError("CONFIG_INVALID", `${file} is larger than 1 MiB; it holds a list of names and a few keys.`);
  const text = readFileSync(file, "utf8");
  const parsed = parseYamlWith(text, SkillSettingsSchema);
  if (!parsed.ok) {
    throw new AegisError("CONFIG_INVALID", `${file} is invalid:\n${formatProblems(file, parsed.problems)}\nFix these lines; skills do not load while the file that can disable them is unreadable.`, {
      details: { file, problems: parsed.problems },
    });
  }
  return {
    file,
    exists: true,
    disabled: new Set((parsed.data.disabled ?? []).map((n) => n.normalize("NFKC").toLowerCase())),
    config: parsed.data.config ?? {},
  };
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false && value !== "";
}

/** Whether `key` (dotted) is set in the config map: as a literal dotted key, or as a path through nested maps. Own keys only. */
export function configHas(config: Readonly<Record<string, unknown>>, key: string): boolean {
  if (Object.hasOwn(config, key) && present(config[key])) return true;
  let node: unknown = config;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) return false;
    node = (node as Record<string, unknown>)[part];
  }
  return present(node);
}
