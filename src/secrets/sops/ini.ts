/**
 * The INI store (getsops/sops `stores/ini`, which reads with go-ini), read
 * side. Each section is a map of string values; the tree is
 * `{section: {key: value}}`, so a value's AAD is "section:key:". Keys before
 * the first header belong to the `DEFAULT` section, which is left out when it
 * is empty. The metadata is the flattened `[sops]` section.
 *
 * Comments follow go-ini and sops: comment lines before a section header are
 * that section's comment (the first item of its map); comment lines before a
 * key are that key's comment, which sops places right AFTER the key. The
 * leading `;`/`#` and spaces are stripped. Values are trimmed, an inline
 * comment (from the first `#` or `;`) is cut, and surrounding quotes removed.
 */
import { AegisError } from "../../errors.ts";
import { parseMetadata, unflattenMetadata, type LoadedSopsFile } from "./metadata.ts";
import { comment, entry, map, str, type SopsComment, type SopsMap, type SopsMapEntry } from "./tree.ts";

const DEFAULT_SECTION = "DEFAULT";

interface IniKey {
  readonly name: string;
  readonly value: string;
  readonly comment: string;
}

interface IniSection {
  readonly name: string;
  comment: string;
  readonly keys: IniKey[];
}

function stripCommentChar(text: string): string {
  // sops: strings.TrimLeft(comment, "; ") or TrimLeft(comment, "# ").
  if (text.startsWith(";")) return text.replace(/^[; ]+/, "");
  if (text.startsWith("#")) return text.replace(/^[# ]+/, "");
  return text;
}

function readValue(raw: string): string {
  let value = raw.trim();
  const commentAt = value.search(/[#;]/);
  if (commentAt !== -1) value = value.slice(0, commentAt).trim();
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
  return value;
}

function parseIni(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [{ name: DEFAULT_SECTION, comment: "", keys: [] }];
  let current = sections[0] as IniSection;
  let pending: string[] = [];
  const fail = (line: number, message: string): never => {
    throw new AegisError("CONFIG_INVALID", `${file}: line ${line}: ${message}. Fix the line and try again.`);
  };
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trimStart();
    if (line === "") return;
    if (line.startsWith("#") || line.startsWith(";")) {
      pending.push(line.trimEnd());
      return;
    }
    if (line.startsWith("[")) {
      const close = line.lastIndexOf("]");
      if (close === -1) fail(index + 1, "a section header without ]");
      const name = line.slice(1, close).trim();
      if (name === "") fail(index + 1, "an empty section name");
      if (sections.some((section) => section.name === name)) fail(index + 1, `the section [${name}] appears twice`);
      current = { name, comment: pending.join("\n"), keys: [] };
      pending = [];
      sections.push(current);
      return;
    }
    const at = line.search(/[=:]/);
    if (at === -1) fail(index + 1, "not key = value, a [section] or a comment");
    let name = line.slice(0, at).trim();
    if (name.length >= 2 && (name[0] === '"' || name[0] === "`") && name.endsWith(name[0])) name = name.slice(1, -1);
    if (name === "") fail(index + 1, "an empty key");
    if (current.keys.some((key) => key.name === name)) fail(index + 1, `the key ${JSON.stringify(name)} appears twice in [${current.name}]`);
    current.keys.push({ name, value: readValue(line.slice(at + 1)), comment: pending.join("\n") });
    pending = [];
  });
  return sections;
}

function sectionToMap(section: IniSection): SopsMap {
  const items: (SopsMapEntry | SopsComment)[] = [];
  if (section.comment !== "") items.push(comment(stripCommentChar(section.comment)));
  for (const key of section.keys) {
    items.push(entry(key.name, str(key.value)));
    if (key.comment !== "") items.push(comment(stripCommentChar(key.comment)));
  }
  return map(items);
}

function toBranch(sections: readonly IniSection[]): SopsMap {
  return map(
    sections
      .filter((section) => section.name !== DEFAULT_SECTION || section.keys.length > 0 || section.comment !== "")
      .map((section) => entry(section.name, sectionToMap(section))),
  );
}

/** Read a plaintext INI file into a branch of sections. */
export function loadPlainIni(text: string, file = "INI input"): SopsMap {
  return toBranch(parseIni(text, file));
}

/** Read an encrypted INI file: the sections (without `[sops]`) and the metadata. */
export function loadIniSopsFile(text: string, file = "INI file"): LoadedSopsFile {
  const sections = parseIni(text, file);
  const sops = sections.find((section) => section.name === "sops");
  const metadata = parseMetadata(sops === undefined ? undefined : unflattenMetadata(new Map(sops.keys.map((key) => [key.name, key.value])), file), file);
  return { branches: [toBranch(sections.filter((section) => section !== sops))], metadata };
}
