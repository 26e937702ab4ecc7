/**
 * The YAML store (getsops/sops `stores/yaml`), on the `yaml` package's
 * document AST so key order and comments survive: a comment becomes an item of
 * the map or list it sits in (encrypted ones are written `#ENC[...]`), each
 * YAML document is one branch, and the `sops` key holds the metadata (read
 * from the first document, written into every document, last).
 *
 * Scalars use the YAML 1.2 core schema, as go-yaml v3 does for sops: `1` is an
 * int, `1.0` and `1e3` are floats, `true`/`false` are bools, timestamps are
 * strings.
 */
import { Document, Pair, Scalar, YAMLMap, YAMLSeq, isAlias, isMap, isScalar, isSeq, parseAllDocuments, type Node as YamlNode } from "yaml";

import { AegisError } from "../../errors.ts";
import { metadataToPlain, parseMetadata, type LoadedSopsFile, type SopsMetadata } from "./metadata.ts";
import { comment, entry, list, map, treeToPlain, type PlainValue, type SopsComment, type SopsMap, type SopsMapEntry, type SopsNode } from "./tree.ts";

const SOPS_KEY = "sops";
/** Generous, but bounded: aliases can otherwise expand a small file exponentially. */
const MAX_NODES = 1_000_000;
const MAX_DEPTH = 200;

function invalid(file: string, message: string, cause?: unknown): AegisError {
  return new AegisError("CONFIG_INVALID", `${file}: ${message}`, cause === undefined ? undefined : { cause });
}

function commentItems(text: string | null | undefined): SopsComment[] {
  if (text === undefined || text === null || text === "") return [];
  return text.split("\n").filter((line) => line !== "").map(comment);
}

/** A comment line and the column of its `#` (Infinity for a comment after a value on the same line). */
interface CommentLine {
  readonly column: number;
  readonly text: string;
}

interface ReadContext {
  readonly doc: Document.Parsed;
  readonly source: string;
  readonly file: string;
  nodes: number;
}

interface ReadResult {
  readonly node: SopsNode;
  /** Trailing comment lines indented less than this node's collection: they belong further out. */
  readonly escaped: readonly CommentLine[];
}

function columnOf(source: string, offset: number): number {
  return offset - (source.lastIndexOf("\n", offset - 1) + 1);
}

/** The indentation column of a block collection; a flow collection is no level of its own. */
function collectionColumn(node: YamlNode, source: string): number {
  if ((node as { flow?: boolean }).flow === true || node.range === undefined || node.range === null) return Infinity;
  return columnOf(source, node.range[0]);
}

/**
 * The `yaml` package gives every comment line after a collection's last value
 * to the innermost collection. go-yaml (and so sops) goes by indentation: a
 * comment at a shallower column belongs to the enclosing map at that column.
 * Recover each line's column from the source so comments get sops's AAD.
 */
function trailingComment(node: YamlNode, ctx: ReadContext): CommentLine[] {
  const lines = commentItems(node.comment).map((item) => item.text);
  if (lines.length === 0) return [];
  const inline = lines.map((text) => ({ column: Infinity, text }));
  const range = node.range;
  if (range === undefined || range === null) return inline;
  const found: CommentLine[] = [];
  let offset = range[1];
  while (offset < range[2]) {
    const lineEnd = ctx.source.indexOf("\n", offset);
    const end = lineEnd === -1 || lineEnd > range[2] ? range[2] : lineEnd;
    const hash = ctx.source.indexOf("#", offset);
    if (hash !== -1 && hash < end) {
      const lineStart = ctx.source.lastIndexOf("\n", hash - 1) + 1;
      const ownLine = ctx.source.slice(lineStart, hash).trim() === "";
      const text = ctx.source.slice(hash + 1, end).replace(/\r$/, "");
      if (text !== "") found.push({ column: ownLine ? hash - lineStart : Infinity, text });
    }
    offset = end + 1;
  }
  const matches = found.length === lines.length && found.every((line, i) => line.text === lines[i]);
  return matches ? found : inline;
}

/** Keep the lines at or right of `column` here (as comment items), pass the others outwards. */
function settle(lines: readonly CommentLine[], column: number, items: { push(...items: SopsComment[]): number }, escaped: CommentLine[]): void {
  for (const line of lines) {
    if (line.column >= column) items.push(comment(line.text));
    else escaped.push(line);
  }
}

function readNode(node: unknown, ctx: ReadContext, path: string, depth: number): ReadResult {
  if (++ctx.nodes > MAX_NODES || depth > MAX_DEPTH) throw invalid(ctx.file, "the YAML is too large or too deeply nested (aliases expand to too many nodes)");
  if (node === null || node === undefined) return { node: { kind: "null" }, escaped: [] };
  if (isAlias(node)) {
    const target = node.resolve(ctx.doc);
    if (target === undefined) throw invalid(ctx.file, `the alias *${node.source} at ${JSON.stringify(path)} has no anchor`);
    return { node: readNode(target, ctx, path, depth + 1).node, escaped: [] };
  }
  if (isMap(node)) return readMap(node, ctx, path, depth);
  if (isSeq(node)) return readSeq(node, ctx, path, depth);
  if (isScalar(node)) return { node: readScalar(node, ctx, path), escaped: [] };
  throw invalid(ctx.file, `the node at ${JSON.stringify(path)} is not a map, list or scalar`);
}

function readScalar(node: Scalar, ctx: ReadContext, path: string): SopsNode {
  const value: unknown = node.value;
  switch (typeof value) {
    case "string":
      return { kind: "str", value };
    case "bigint":
      return { kind: "int", value };
    case "number":
      return { kind: "float", value };
    case "boolean":
      return { kind: "bool", value };
    default:
      if (value === null) return { kind: "null" };
      if (value instanceof Uint8Array) return { kind: "bytes", value };
      throw invalid(ctx.file, `the value at ${JSON.stringify(path)} has a YAML type SOPS cannot hold; quote it to make it a string`);
  }
}

function readSeq(node: YAMLSeq, ctx: ReadContext, path: string, depth: number): ReadResult {
  const column = collectionColumn(node, ctx.source);
  const items: (SopsNode | SopsComment)[] = [...commentItems(node.commentBefore)];
  const escaped: CommentLine[] = [];
  for (const item of node.items) {
    const leaf = isScalar(item) || isAlias(item);
    if (leaf) items.push(...commentItems(item.commentBefore));
    const result = readNode(item, ctx, path, depth + 1);
    items.push(result.node);
    settle(result.escaped, column, items, escaped);
    if (leaf) settle(trailingComment(item, ctx), column, items, escaped);
  }
  settle(trailingComment(node, ctx), column, items, escaped);
  return { node: list(items), escaped };
}

function readMap(node: YAMLMap, ctx: ReadContext, path: string, depth: number): ReadResult {
  const column = collectionColumn(node, ctx.source);
  const items: (SopsMapEntry | SopsComment)[] = [...commentItems(node.commentBefore)];
  const escaped: CommentLine[] = [];
  for (const pair of node.items) {
    const key: unknown = pair.key;
    if (!isScalar(key) || typeof key.value !== "string") {
      throw invalid(ctx.file, `a key under ${JSON.stringify(path)} is not a string (${isScalar(key) ? String(key.value) : "a complex key"}); SOPS supports only string keys, so quote it`);
    }
    const value: unknown = pair.value;
    const leaf = isScalar(value) || isAlias(value);
    items.push(...commentItems(key.commentBefore));
    if (leaf) items.push(...commentItems(value.commentBefore));
    // As in sops (go-yaml's line comment on the key), `key: # note` precedes the entry.
    items.push(...commentItems(key.comment));
    const result = readNode(value, ctx, path === "" ? key.value : `${path}:${key.value}`, depth + 1);
    items.push(entry(key.value, result.node));
    settle(result.escaped, column, items, escaped);
    if (leaf) settle(trailingComment(value, ctx), column, items, escaped);
  }
  settle(trailingComment(node, ctx), column, items, escaped);
  return { node: map(items), escaped };
}

function readDocuments(text: string, file: string): SopsMap[] {
  const docs = parseAllDocuments(text, { intAsBigInt: true, uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((doc) => {
    const [error] = doc.errors;
    if (error !== undefined) throw invalid(file, `not valid YAML: ${error.message}`, error);
    const ctx: ReadContext = { doc, source: text, file, nodes: 0 };
    const contents: unknown = doc.contents;
    let body: SopsMap;
    if (contents === null || (isScalar(contents) && contents.value === null)) {
      body = map([]);
    } else if (isMap(contents)) {
      const result = readMap(contents, ctx, "", 0);
      body = map([...(result.node as SopsMap).items, ...result.escaped.map((line) => comment(line.text))]);
    } else {
      throw invalid(file, "the YAML document is not a map; SOPS files hold a map at the top level");
    }
    return map([...commentItems(doc.commentBefore), ...body.items, ...commentItems(doc.comment)]);
  });
}

/** Read a plaintext YAML file into branches (keeping order and comments). */
export function loadPlainYaml(text: string, file = "YAML input"): SopsMap[] {
  const branches = readDocuments(text, file);
  return branches.length === 0 ? [map([])] : branches;
}

/** Read an encrypted YAML file: the stored branches (without `sops`) and the metadata. */
export function loadYamlSopsFile(text: string, file = "YAML file"): LoadedSopsFile {
  const branches = readDocuments(text, file);
  const first = branches[0]?.items.find((item): item is SopsMapEntry => item.kind === "entry" && item.key === SOPS_KEY);
  const metadata = parseMetadata(first === undefined ? undefined : treeToPlain(first.value), file);
  return { branches: branches.map((branch) => map(branch.items.filter((item) => item.kind !== "entry" || item.key !== SOPS_KEY))), metadata };
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

function floatScalar(value: number): Scalar {
  const node = new Scalar(value);
  // Keep 2.0 a float when read back (plain "2" would be an int).
  if (Number.isInteger(value) && !String(value).includes("e")) node.minFractionDigits = 1;
  return node;
}

function writeNode(node: SopsNode): YamlNode {
  switch (node.kind) {
    case "map": {
      const out = new YAMLMap();
      let pending: string[] = [];
      for (const item of node.items) {
        if (item.kind === "comment") {
          pending.push(item.text);
          continue;
        }
        const key = new Scalar(item.key);
        if (pending.length > 0) key.commentBefore = pending.join("\n");
        pending = [];
        out.items.push(new Pair(key, writeNode(item.value)));
      }
      if (pending.length > 0) out.comment = pending.join("\n");
      return out;
    }
    case "list": {
      const out = new YAMLSeq();
      let pending: string[] = [];
      for (const item of node.items) {
        if (item.kind === "comment") {
          pending.push(item.text);
          continue;
        }
        const value = writeNode(item);
        if (pending.length > 0) value.commentBefore = pending.join("\n");
        pending = [];
        out.items.push(value);
      }
      if (pending.length > 0) out.comment = pending.join("\n");
      return out;
    }
    case "float":
      return floatScalar(node.value);
    case "bytes":
      return new Scalar(Buffer.from(node.value).toString("utf8"));
    case "null":
      return new Scalar(null);
    default:
      return new Scalar(node.value);
  }
}

/** The metadata block, with sops's scalar styles: armored keys as `|` blocks, lastmodified quoted. */
function writeMetadataValue(value: PlainValue, key: string): YamlNode {
  if (Array.isArray(value)) {
    const out = new YAMLSeq();
    for (const item of value as readonly PlainValue[]) out.items.push(writeMetadataValue(item, key));
    return out;
  }
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    const out = new YAMLMap();
    for (const [name, item] of Object.entries(value)) out.items.push(new Pair(new Scalar(name), writeMetadataValue(item, name)));
    return out;
  }
  const node = new Scalar(value);
  if (typeof value === "string" && value.includes("\n")) node.type = Scalar.BLOCK_LITERAL;
  else if (key === "lastmodified") node.type = Scalar.QUOTE_DOUBLE;
  return node;
}

function stringify(branches: readonly SopsMap[], metadata: SopsMetadata | undefined): string {
  const all = branches.length === 0 ? [map([])] : branches;
  return all
    .map((branch) => {
      const doc = new Document();
      const body = writeNode(branch) as YAMLMap;
      if (metadata !== undefined) {
        const key = new Scalar(SOPS_KEY);
        // Comments at the end of the document go before `sops:`, where they read back as top-level.
        if (body.comment !== null && body.comment !== undefined) key.commentBefore = body.comment;
        body.comment = null;
        body.items.push(new Pair(key, writeMetadataValue(metadataToPlain(metadata), SOPS_KEY)));
      }
      doc.contents = body;
      return doc.toString({ indent: 4, indentSeq: true, lineWidth: 0 });
    })
    .join("---\n");
}

/** Write an encrypted YAML file: every branch, each with the `sops` block last. */
export function emitYamlSopsFile(branches: readonly SopsMap[], metadata: SopsMetadata): string {
  return stringify(branches, metadata);
}

/** Write branches as plaintext YAML (for an editor), comments included. */
export function emitPlainYaml(branches: readonly SopsMap[]): string {
  return stringify(branches, undefined);
}
