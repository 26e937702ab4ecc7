/**
 * The JSON store (getsops/sops `stores/json`). JSON.parse would reorder
 * integer-like keys and round big integers, and both change the MAC, so this
 * reads strict JSON (RFC 8259) with a small tokenizer that keeps key order and
 * each number's text: integer syntax within int64 is an `int` (full
 * precision), anything else a `float`. Duplicate keys are refused.
 *
 * Written files look like sops's: tab indentation, the `sops` object last.
 */
import { AegisError } from "../../errors.ts";
import { formatGoFloat, isInt64 } from "./cipher.ts";
import { metadataToPlain, parseMetadata, type LoadedSopsFile, type SopsMetadata } from "./metadata.ts";
import { entry, list, map, plainToTree, treeToPlain, type SopsMap, type SopsMapEntry, type SopsNode } from "./tree.ts";

const SOPS_KEY = "sops";
const MAX_DEPTH = 200;

class JsonReader {
  readonly #text: string;
  readonly #file: string;
  #pos = 0;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
  }

  fail(message: string): never {
    const before = this.#text.slice(0, this.#pos);
    const line = before.split("\n").length;
    const column = this.#pos - before.lastIndexOf("\n");
    throw new AegisError("CONFIG_INVALID", `${this.#file}: not valid JSON at line ${line}, column ${column}: ${message}`);
  }

  skipSpace(): void {
    while (this.#pos < this.#text.length && " \t\n\r".includes(this.#text.charAt(this.#pos))) this.#pos++;
  }

  peek(): string {
    this.skipSpace();
    return this.#text.charAt(this.#pos);
  }

  expect(char: string): void {
    if (this.peek() !== char) this.fail(`expected ${JSON.stringify(char)}`);
    this.#pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.#pos >= this.#text.length;
  }

  readValue(depth: number): SopsNode {
    if (depth > MAX_DEPTH) this.fail("nested too deeply");
    const char = this.peek();
    if (char === "{") return this.readObject(depth);
    if (char === "[") return this.readArray(depth);
    if (char === '"') return { kind: "str", value: this.readString() };
    for (const [word, node] of [
      ["true", { kind: "bool", value: true }],
      ["false", { kind: "bool", value: false }],
      ["null", { kind: "null" }],
    ] as const) {
      if (this.#text.startsWith(word, this.#pos)) {
        this.#pos += word.length;
        return node;
      }
    }
    return this.readNumber();
  }

  readObject(depth: number): SopsMap {
    this.expect("{");
    const items: SopsMapEntry[] = [];
    const seen = new Set<string>();
    if (this.peek() === "}") {
      this.#pos++;
      return map(items);
    }
    for (;;) {
      if (this.peek() !== '"') this.fail("expected a string key");
      const key = this.readString();
      if (seen.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      this.expect(":");
      items.push(entry(key, this.readValue(depth + 1)));
      const next = this.peek();
      this.#pos++;
      if (next === "}") return map(items);
      if (next !== ",") this.fail('expected "," or "}"');
    }
  }

  readArray(depth: number): SopsNode {
    this.expect("[");
    const items: SopsNode[] = [];
    if (this.peek() === "]") {
      this.#pos++;
      return list(items);
    }
    for (;;) {
      items.push(this.readValue(depth + 1));
      const next = this.peek();
      this.#pos++;
      if (next === "]") return list(items);
      if (next !== ",") this.fail('expected "," or "]"');
    }
  }

  readString(): string {
    const start = this.#pos;
    let end = start + 1;
    for (;;) {
      if (end >= this.#text.length) this.fail("unterminated string");
      const code = this.#text.charCodeAt(end);
      if (code === 0x22) break;
      if (code < 0x20) this.fail("a control character inside a string");
      end += code === 0x5c ? 2 : 1;
    }
    this.#pos = end + 1;
    try {
      // The token is delimited by quotes; JSON.parse checks and decodes its escapes.
      return JSON.parse(this.#text.slice(start, end + 1)) as string;
    } catch {
      this.#pos = start;
      return this.fail("bad escape in string");
    }
  }

  readNumber(): SopsNode {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.#text.slice(this.#pos));
    if (match === null || match[0] === "" || match[0] === "-") this.fail("unexpected character");
    this.#pos += match[0].length;
    const text = match[0];
    if (match[2] === undefined && match[3] === undefined) {
      const value = BigInt(text);
      if (isInt64(value)) return { kind: "int", value };
    }
    const value = Number(text);
    if (!Number.isFinite(value)) this.fail(`the number ${text} is out of range`);
    return { kind: "float", value };
  }
}

/** Read a plaintext JSON object into a branch, keeping key order and number precision. */
export function loadPlainJson(text: string, file = "JSON input"): SopsMap {
  const reader = new JsonReader(text.startsWith("\uFEFF") ? text.slice(1) : text, file);
  if (reader.peek() !== "{") reader.fail("SOPS JSON files hold an object at the top level");
  const branch = reader.readObject(0);
  if (!reader.atEnd()) reader.fail("unexpected text after the top-level object");
  return branch;
}

/** Read an encrypted JSON file: the stored branch (without `sops`) and the metadata. */
export function loadJsonSopsFile(text: string, file = "JSON file"): LoadedSopsFile {
  const branch = loadPlainJson(text, file);
  const sops = branch.items.find((item): item is SopsMapEntry => item.kind === "entry" && item.key === SOPS_KEY);
  const metadata = parseMetadata(sops === undefined ? undefined : treeToPlain(sops.value), file);
  return { branches: [map(branch.items.filter((item) => item.kind !== "entry" || item.key !== SOPS_KEY))], metadata };
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

function writeNumber(value: number): string {
  if (!Number.isFinite(value)) throw new AegisError("CONFIG_INVALID", `JSON cannot hold the float ${String(value)}; encrypt it (it is then stored as text) or use YAML.`);
  // Go's shortest form; a whole number stays readable as JSON either way.
  const text = String(value);
  return text.includes("e") ? text : formatGoFloat(value);
}

function writeValue(node: SopsNode, indent: string): string {
  const inner = indent + "\t";
  switch (node.kind) {
    case "map": {
      const entries = node.items.filter((item): item is SopsMapEntry => item.kind === "entry");
      if (entries.length === 0) return "{}";
      return `{\n${entries.map((item) => `${inner}${JSON.stringify(item.key)}: ${writeValue(item.value, inner)}`).join(",\n")}\n${indent}}`;
    }
    case "list": {
      const items = node.items.filter((item): item is SopsNode => item.kind !== "comment");
      if (items.length === 0) return "[]";
      return `[\n${items.map((item) => inner + writeValue(item, inner)).join(",\n")}\n${indent}]`;
    }
    case "str":
      return JSON.stringify(node.value);
    case "int":
      return node.value.toString(10);
    case "float":
      return writeNumber(node.value);
    case "bool":
      return node.value ? "true" : "false";
    case "bytes":
      return JSON.stringify(Buffer.from(node.value).toString("utf8"));
    case "null":
      return "null";
  }
}

function singleBranch(branches: readonly SopsMap[]): SopsMap {
  if (branches.length !== 1 || branches[0] === undefined) {
    throw new AegisError("CONFIG_INVALID", `a JSON SOPS file holds exactly one document; got ${branches.length}. Use YAML for several documents.`);
  }
  return branches[0];
}

/** Write an encrypted JSON file with the `sops` object last (JSON has no comments; they are dropped). */
export function emitJsonSopsFile(branches: readonly SopsMap[], metadata: SopsMetadata): string {
  const branch = singleBranch(branches);
  return writeValue(map([...branch.items, entry(SOPS_KEY, plainToTree(metadataToPlain(metadata)))]), "") + "\n";
}

export function emitPlainJson(branches: readonly SopsMap[]): string {
  return writeValue(singleBranch(branches), "") + "\n";
}
