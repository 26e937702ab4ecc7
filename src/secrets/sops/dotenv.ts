/**
 * The dotenv store (getsops/sops `stores/dotenv`), read side. One `KEY=value`
 * per line, split at the first `=` with nothing trimmed (`foo = bar` is the key
 * "foo " and the value " bar"), `\n` in a value is a newline, a line starting
 * with `#` is a comment. The metadata is the `sops_*` keys, flattened with
 * `__map_` / `__list_N` separators.
 */
import { AegisError } from "../../errors.ts";
import { parseMetadata, unflattenMetadata, type LoadedSopsFile } from "./metadata.ts";
import { comment, entry, map, str, type SopsComment, type SopsMap, type SopsMapEntry } from "./tree.ts";

const SOPS_PREFIX = "sops_";

function readLines(text: string, file: string): (SopsMapEntry | SopsComment)[] {
  const items: (SopsMapEntry | SopsComment)[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((line, index) => {
    if (line === "") return;
    if (line.startsWith("#")) {
      items.push(comment(line.slice(1)));
      return;
    }
    const at = line.indexOf("=");
    if (at === -1) throw new AegisError("CONFIG_INVALID", `${file}: line ${index + 1} is not KEY=value or a # comment. Fix the line and try again.`);
    const key = line.slice(0, at);
    if (seen.has(key)) throw new AegisError("CONFIG_INVALID", `${file}: line ${index + 1} repeats the key ${JSON.stringify(key)}. Keep one of them.`);
    seen.add(key);
    items.push(entry(key, str(line.slice(at + 1).replaceAll("\\n", "\n"))));
  });
  return items;
}

/** Read a plaintext dotenv file (e.g. for `secrets import --from-env`). */
export function loadPlainDotenv(text: string, file = "dotenv input"): SopsMap {
  return map(readLines(text, file));
}

/** Read an encrypted dotenv file: the values (without `sops_*`) and the metadata. */
export function loadDotenvSopsFile(text: string, file = "dotenv file"): LoadedSopsFile {
  const items: (SopsMapEntry | SopsComment)[] = [];
  const flat = new Map<string, string>();
  for (const item of readLines(text, file)) {
    if (item.kind === "entry" && item.key.startsWith(SOPS_PREFIX) && item.value.kind === "str") flat.set(item.key.slice(SOPS_PREFIX.length), item.value.value);
    else items.push(item);
  }
  const metadata = parseMetadata(flat.size === 0 ? undefined : unflattenMetadata(flat, file), file);
  return { branches: [map(items)], metadata };
}
