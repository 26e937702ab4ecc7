/**
 * The ordered tree SOPS works on, and the walk that decides what is encrypted.
 *
 * A SOPS file is a list of branches (one per YAML document; one for the other
 * formats). A branch is an ordered map; order matters because the MAC hashes
 * the values in document order, and comments are items of their enclosing map
 * or list because they are encrypted with that container's path as AAD.
 *
 * The walk follows getsops/sops `sops.go` (`walkBranch`, `walkSlice`,
 * `shouldBeEncrypted`): the path is the list of map keys from the root, list
 * indices are NOT part of it, nulls are skipped, and every comment is pushed on
 * a "comments stack" before it is visited so the comment regexes can see it.
 */
import { AegisError } from "../../errors.ts";

export interface SopsComment {
  readonly kind: "comment";
  /** The comment text after the `#` (or `;`), e.g. " a note" or "ENC[...]". */
  readonly text: string;
}

export type SopsScalar =
  | { readonly kind: "str"; readonly value: string }
  /** Integers keep full precision: the plaintext form is the decimal digits. */
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "bytes"; readonly value: Uint8Array }
  | { readonly kind: "null" };

export interface SopsMapEntry {
  readonly kind: "entry";
  readonly key: string;
  readonly value: SopsNode;
}

export interface SopsMap {
  readonly kind: "map";
  readonly items: readonly (SopsMapEntry | SopsComment)[];
}

export interface SopsList {
  readonly kind: "list";
  readonly items: readonly (SopsNode | SopsComment)[];
}

export type SopsNode = SopsMap | SopsList | SopsScalar;

/** A plain JavaScript value as the decrypted tree is handed out. */
export type PlainValue = string | number | bigint | boolean | null | Uint8Array | readonly PlainValue[] | PlainObject;
export interface PlainObject {
  readonly [key: string]: PlainValue;
}

/** The options in the `sops` metadata that decide which values are encrypted. */
export interface EncryptionRules {
  readonly unencryptedSuffix?: string | undefined;
  readonly encryptedSuffix?: string | undefined;
  readonly unencryptedRegex?: string | undefined;
  readonly encryptedRegex?: string | undefined;
  readonly unencryptedCommentRegex?: string | undefined;
  readonly encryptedCommentRegex?: string | undefined;
  /** MAC only the values that end up encrypted (and seed the hash with sha256("sops")). */
  readonly macOnlyEncrypted?: boolean | undefined;
}

/** sops's default when a file names no rule at all. */
export const DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted";

export const str = (value: string): SopsScalar => ({ kind: "str", value });
export const comment = (text: string): SopsComment => ({ kind: "comment", text });
export const entry = (key: string, value: SopsNode): SopsMapEntry => ({ kind: "entry", key, value });
export const map = (items: readonly (SopsMapEntry | SopsComment)[]): SopsMap => ({ kind: "map", items });
export const list = (items: readonly (SopsNode | SopsComment)[]): SopsList => ({ kind: "list", items });

/** The AAD of a value: the map keys on its path joined by ":", plus a trailing ":". */
export function aadForPath(path: readonly string[]): string {
  return path.join(":") + ":";
}

// ---------------------------------------------------------------------------
// Walking
// ---------------------------------------------------------------------------

export type CommentsStack = readonly (readonly string[])[];

export interface LeafVisitor {
  scalar(leaf: Exclude<SopsScalar, { kind: "null" }>, path: readonly string[], comments: CommentsStack): SopsScalar;
  comment(leaf: SopsComment, path: readonly string[], comments: CommentsStack): SopsComment;
}

/**
 * Rebuild a branch, passing every non-null leaf (and every comment) through
 * `visit` in document order, exactly in the order sops visits them.
 */
export function mapLeaves(branch: SopsMap, visit: LeafVisitor): SopsMap {
  return walkMap(branch, [], [], visit);
}

function walkMap(node: SopsMap, path: readonly string[], stack: CommentsStack, visit: LeafVisitor): SopsMap {
  const frame: string[] = [];
  const local: CommentsStack = [...stack, frame];
  const items: (SopsMapEntry | SopsComment)[] = [];
  for (const item of node.items) {
    if (item.kind === "comment") {
      frame.push(item.text);
      items.push(visit.comment(item, path, local));
      continue;
    }
    items.push(entry(item.key, walkValue(item.value, [...path, item.key], local, visit)));
    frame.length = 0;
  }
  return map(items);
}

function walkList(node: SopsList, path: readonly string[], stack: CommentsStack, visit: LeafVisitor): SopsList {
  const frame: string[] = [];
  const local: CommentsStack = [...stack, frame];
  const items: (SopsNode | SopsComment)[] = [];
  for (const item of node.items) {
    if (item.kind === "comment") {
      frame.push(item.text);
      items.push(visit.comment(item, path, local));
      continue;
    }
    items.push(walkValue(item, path, local, visit));
    frame.length = 0;
  }
  return list(items);
}

function walkValue(node: SopsNode, path: readonly string[], stack: CommentsStack, visit: LeafVisitor): SopsNode {
  switch (node.kind) {
    case "map":
      return walkMap(node, path, stack, visit);
    case "list":
      return walkList(node, path, stack, visit);
    case "null":
      // sops neither encrypts nor MACs a null.
      return node;
    default:
      return visit.scalar(node, path, stack);
  }
}

// ---------------------------------------------------------------------------
// What gets encrypted
// ---------------------------------------------------------------------------

export interface CompiledRules {
  readonly unencryptedSuffix: string | undefined;
  readonly encryptedSuffix: string | undefined;
  readonly unencryptedRegex: RegExp | undefined;
  readonly encryptedRegex: RegExp | undefined;
  readonly unencryptedCommentRegex: RegExp | undefined;
  readonly encryptedCommentRegex: RegExp | undefined;
  readonly macOnlyEncrypted: boolean;
}

/**
 * Compile the rules once. As in sops, at most one of the four key rules may be
 * set, and with none at all the default `_unencrypted` suffix applies.
 */
export function compileRules(rules: EncryptionRules, file: string): CompiledRules {
  const keyRules = [rules.unencryptedSuffix, rules.encryptedSuffix, rules.unencryptedRegex, rules.encryptedRegex].filter(
    (rule) => rule !== undefined && rule !== "",
  );
  if (keyRules.length > 1) {
    throw new AegisError(
      "CONFIG_INVALID",
      `${file}: the sops metadata sets more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex and encrypted_regex; sops allows only one. Keep one rule and re-encrypt the file.`,
    );
  }
  const none = keyRules.length === 0;
  return {
    unencryptedSuffix: nonEmpty(rules.unencryptedSuffix) ?? (none ? DEFAULT_UNENCRYPTED_SUFFIX : undefined),
    encryptedSuffix: nonEmpty(rules.encryptedSuffix),
    unencryptedRegex: compileGoRegex(rules.unencryptedRegex, "unencrypted_regex", file),
    encryptedRegex: compileGoRegex(rules.encryptedRegex, "encrypted_regex", file),
    unencryptedCommentRegex: compileGoRegex(rules.unencryptedCommentRegex, "unencrypted_comment_regex", file),
    encryptedCommentRegex: compileGoRegex(rules.encryptedCommentRegex, "encrypted_comment_regex", file),
    macOnlyEncrypted: rules.macOnlyEncrypted === true,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * sops matches Go (RE2) regexes, unanchored, against each path key. The common
 * subset is JavaScript syntax too; translate the RE2-only spellings we can
 * (a leading `(?i)`-style flag group, `\A`, `\z`) and refuse the rest.
 */
function compileGoRegex(pattern: string | undefined, option: string, file: string): RegExp | undefined {
  if (pattern === undefined || pattern === "") return undefined;
  let source = pattern;
  let flags = "";
  const flagGroup = /^\(\?([imsU]+)\)/.exec(source);
  if (flagGroup?.[1] !== undefined) {
    if (flagGroup[1].includes("U")) {
      throw new AegisError("CONFIG_INVALID", `${file}: ${option} ${JSON.stringify(pattern)} uses the RE2 flag U, which aegisclaw does not support. Rewrite the regex without it.`);
    }
    flags = flagGroup[1];
    source = source.slice(flagGroup[0].length);
  }
  source = source.replaceAll("\\A", "^").replaceAll("\\z", "$");
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new AegisError("CONFIG_INVALID", `${file}: ${option} ${JSON.stringify(pattern)} is not a regex aegisclaw can evaluate. Use the RE2 subset shared with JavaScript.`, { cause: err });
  }
}

/** sops `shouldBeEncrypted`, rule for rule, in the same order. */
export function shouldBeEncrypted(path: readonly string[], comments: CommentsStack, isComment: boolean, rules: CompiledRules): boolean {
  let encrypted = true;
  if (rules.unencryptedSuffix !== undefined) {
    const suffix = rules.unencryptedSuffix;
    if (path.some((key) => key.endsWith(suffix))) encrypted = false;
  }
  if (rules.encryptedSuffix !== undefined) {
    const suffix = rules.encryptedSuffix;
    encrypted = path.some((key) => key.endsWith(suffix));
  }
  if (rules.unencryptedRegex !== undefined) {
    const regex = rules.unencryptedRegex;
    if (path.some((key) => regex.test(key))) encrypted = false;
  }
  if (rules.encryptedRegex !== undefined) {
    const regex = rules.encryptedRegex;
    encrypted = path.some((key) => regex.test(key));
  }
  if (rules.unencryptedCommentRegex !== undefined) {
    const regex = rules.unencryptedCommentRegex;
    if (comments.some((frame) => frame.some((text) => regex.test(text)))) encrypted = false;
  }
  if (rules.encryptedCommentRegex !== undefined) {
    const regex = rules.encryptedCommentRegex;
    const lastFrame = comments.length - 1;
    const lastInFrame = (comments[lastFrame]?.length ?? 0) - 1;
    encrypted = comments.some((frame, i) =>
      frame.some((text, j) => {
        // The comment that matches does not encrypt itself, only what follows it.
        if (isComment && i === lastFrame && j === lastInFrame) return false;
        return regex.test(text);
      }),
    );
  }
  return encrypted;
}

// ---------------------------------------------------------------------------
// Plain values
// ---------------------------------------------------------------------------

/**
 * The tree as plain JavaScript: maps become objects (keys in file order, as far
 * as JavaScript objects keep order: integer-like keys are listed first by the
 * language), lists become arrays, comments are dropped. Integers are numbers
 * when they are safe integers and bigints otherwise; floats are numbers.
 */
export function treeToPlain(node: SopsMap): PlainObject;
export function treeToPlain(node: SopsNode): PlainValue;
export function treeToPlain(node: SopsNode): PlainValue {
  switch (node.kind) {
    case "map": {
      const out: Record<string, PlainValue> = {};
      for (const item of node.items) {
        if (item.kind === "comment") continue;
        // defineProperty, so a key named "__proto__" is data and not a prototype.
        Object.defineProperty(out, item.key, { value: treeToPlain(item.value), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case "list":
      return node.items.flatMap((item) => (item.kind === "comment" ? [] : [treeToPlain(item)]));
    case "int":
      return node.value >= BigInt(Number.MIN_SAFE_INTEGER) && node.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(node.value) : node.value;
    case "null":
      return null;
    default:
      return node.value;
  }
}

/**
 * The inverse for values to encrypt: safe-integer numbers and bigints become
 * `int`, every other number (1.5, 1e21, 1e-7, NaN) becomes `float`.
 */
export function plainToTree(value: PlainObject, where?: string): SopsMap;
export function plainToTree(value: PlainValue, where?: string): SopsNode;
export function plainToTree(value: PlainValue, where = ""): SopsNode {
  if (value === null) return { kind: "null" };
  switch (typeof value) {
    case "string":
      return str(value);
    case "boolean":
      return { kind: "bool", value };
    case "bigint":
      return { kind: "int", value };
    case "number":
      return Number.isSafeInteger(value) ? { kind: "int", value: BigInt(value) } : { kind: "float", value };
    case "object":
      break;
    default:
      throw new AegisError("CONFIG_INVALID", `the value at ${JSON.stringify(where + ":")} is a ${typeof value}, which a SOPS file cannot hold. Use strings, numbers, booleans, null, lists and maps.`);
  }
  if (value instanceof Uint8Array) return { kind: "bytes", value };
  if (Array.isArray(value)) return list((value as readonly PlainValue[]).map((item) => plainToTree(item, where)));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new AegisError("CONFIG_INVALID", `the value at ${JSON.stringify(where + ":")} is not a plain object, list or scalar. Convert it to plain data before encrypting it.`);
  }
  return map(Object.entries(value as PlainObject).map(([key, item]) => entry(key, plainToTree(item, where === "" ? key : `${where}:${key}`))));
}
