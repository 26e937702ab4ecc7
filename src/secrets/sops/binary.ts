/**
 * The binary store (getsops/sops `stores/json` BinaryStore): an arbitrary file
 * is kept whole as the string value of `data` in a JSON SOPS file, so its AAD
 * is "data:". The decrypted file is that string.
 */
import { AegisError } from "../../errors.ts";
import { emitJsonSopsFile, loadJsonSopsFile } from "./json.ts";
import type { LoadedSopsFile, SopsMetadata } from "./metadata.ts";
import { entry, map, str, type SopsMap } from "./tree.ts";

export const BINARY_DATA_KEY = "data";

export function loadBinarySopsFile(text: string, file = "binary SOPS file"): LoadedSopsFile {
  const loaded = loadJsonSopsFile(text, file);
  const [branch] = loaded.branches;
  const entries = branch?.items.filter((item) => item.kind === "entry") ?? [];
  const [only] = entries;
  if (entries.length !== 1 || only?.key !== BINARY_DATA_KEY || only.value.kind !== "str") {
    throw new AegisError("CONFIG_INVALID", `${file}: a binary SOPS file holds exactly one string under "data". Open it with the format it was written in (yaml, json, dotenv, ini).`);
  }
  return loaded;
}

/** The tree for a whole file's content. */
export function binaryBranch(content: string): SopsMap {
  return map([entry(BINARY_DATA_KEY, str(content))]);
}

export function emitBinarySopsFile(branches: readonly SopsMap[], metadata: SopsMetadata): string {
  const entries = branches.length === 1 ? (branches[0]?.items.filter((item) => item.kind === "entry") ?? []) : [];
  if (entries.length !== 1 || entries[0]?.key !== BINARY_DATA_KEY) {
    throw new AegisError("CONFIG_INVALID", `a binary SOPS file holds exactly one value, under "${BINARY_DATA_KEY}"; use binaryBranch(content) to build it.`);
  }
  return emitJsonSopsFile(branches, metadata);
}
