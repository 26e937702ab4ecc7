/**
 * Key-based redaction of log fields: the value of any field whose *name* says
 * it holds a credential (`password`, `apiKey`, `Authorization`, `set-cookie`,
 * `GITHUB_TOKEN`, `env`, …) is replaced by `[REDACTED]`, at any depth.
 *
 * Why not pino's `redact` paths alone: a path names one depth (`*.password`
 * is exactly one level down; there is no "any depth" wildcard) and one
 * spelling (`authorization` is not `Authorization`), and every wildcard path
 * runs pino's redactor over every top-level field — measured on Node 24 with
 * pino 10.4, 25 keys at depths 0–1 cost ~30 µs a line and depths 0–2 ~80–110
 * µs, against ~1–2 µs for this walk, which covers every depth and spelling.
 *
 * The walk follows `JSON.stringify`'s semantics (own enumerable string keys,
 * `toJSON` — so a `Secret` becomes `[REDACTED]`), serialises errors the way
 * pino does (type, message and stack with causes, own fields) so their fields
 * are checked too, never mutates its input (copy on write), and fails closed:
 * a cycle becomes `[Circular]` and anything deeper than
 * {@link MAX_REDACTION_DEPTH} becomes `[Truncated]`, so no unexamined object
 * reaches the serialiser. Values are not inspected here: secrets inside
 * ordinary fields or messages are the job of the logger's `scrub` function.
 */
import { pino } from "pino";
import { REDACTED } from "../secrets/secret.ts";

/** Objects nested deeper than this are replaced by {@link TRUNCATED}. */
export const MAX_REDACTION_DEPTH = 32;
export const CIRCULAR = "[Circular]";
export const TRUNCATED = "[Truncated]";
export const UNSERIALIZABLE = "[Unserializable]";

/**
 * Key names (lower-case, with everything but letters and digits removed)
 * that hold a credential whatever their prefix: `dbPassword`, `GITHUB_TOKEN`,
 * `x-api-key`, `AWS_SECRET_ACCESS_KEY`, `Proxy-Authorization`, `set-cookie`.
 */
const SECRET_KEY_SUFFIXES = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "accesskey",
  "privatekey",
  "secretkey",
  "signingkey",
  "credential",
  "credentials",
  "cookie",
  "authorization",
] as const;

/**
 * Key names that hold a credential only as a whole word: `env` (a process
 * environment is full of tokens), `auth`, `pass` (nodemailer's `auth.pass`),
 * `secrets`, `bearer`, `dsn` and `connectionString` (URLs with a password).
 */
const SECRET_KEY_NAMES = ["env", "auth", "pass", "secrets", "bearer", "dsn", "connectionstring"] as const;

const SUFFIX_PATTERN = new RegExp(`(?:${SECRET_KEY_SUFFIXES.join("|")})$`);
const EXACT_NAMES = new Set<string>(SECRET_KEY_NAMES);

// Log keys repeat endlessly; remember the verdict for the first few thousand distinct ones.
const KEY_CACHE_LIMIT = 4096;
const keyVerdicts = new Map<string, boolean>();

/** True when a field called `key` holds a credential (case, `-`, `_`, `.` and spaces ignored). */
export function isSecretKey(key: string): boolean {
  const cached = keyVerdicts.get(key);
  if (cached !== undefined) return cached;
  const normalised = key.toLowerCase().replace(/[^a-z0-9]/g, "");
  const verdict = EXACT_NAMES.has(normalised) || SUFFIX_PATTERN.test(normalised);
  if (keyVerdicts.size < KEY_CACHE_LIMIT) keyVerdicts.set(key, verdict);
  return verdict;
}

function hasToJSON(value: object): value is { toJSON: (key?: string) => unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === "function";
}

/** What the serialiser would walk for `value`: an error as pino prints it, the result of `toJSON`, or the object itself. */
function serialisable(value: object): { readonly ok: true; readonly value: unknown } | { readonly ok: false } {
  if (value instanceof Error) return { ok: true, value: pino.stdSerializers.err(value) };
  if (!hasToJSON(value)) return { ok: true, value };
  try {
    return { ok: true, value: value.toJSON() };
  } catch {
    return { ok: false };
  }
}

function redactValue(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (ancestors.has(value)) return CIRCULAR;
  if (depth >= MAX_REDACTION_DEPTH) return TRUNCATED;
  const converted = serialisable(value);
  if (!converted.ok) return UNSERIALIZABLE;
  const source = converted.value;
  if (typeof source !== "object" || source === null) return source;
  if (source !== value && ancestors.has(source)) return CIRCULAR;

  ancestors.add(value);
  try {
    if (Array.isArray(source)) {
      let copy: unknown[] | undefined;
      for (let index = 0; index < source.length; index += 1) {
        const item: unknown = source[index];
        const redacted = redactValue(item, depth + 1, ancestors);
        if (redacted !== item) {
          copy ??= source.slice();
          copy[index] = redacted;
        }
      }
      return copy ?? source;
    }
    const record = source as Record<string, unknown>;
    // A converted value (a serialised error) is always returned as a plain copy, so later serialisers see data, not an Error.
    let copy: Record<string, unknown> | undefined = source === value ? undefined : { ...record };
    for (const key of Object.keys(record)) {
      const item = record[key];
      const redacted = item !== undefined && isSecretKey(key) ? REDACTED : redactValue(item, depth + 1, ancestors);
      if (redacted !== item) {
        copy ??= { ...record };
        copy[key] = redacted;
      }
    }
    return copy ?? source;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * `value` with every credential-named field replaced by `[REDACTED]` at any
 * depth (see the module comment). Returns the input itself when nothing
 * needed replacing; never mutates it.
 */
export function redactSecretKeys(value: unknown): unknown {
  return redactValue(value, 0, new Set());
}

/** Redacts the fields of a log record or bindings object (its top-level keys included). */
export function redactLogFields(fields: object): Record<string, unknown> {
  const redacted = redactValue(fields, 0, new Set());
  return typeof redacted === "object" && redacted !== null ? (redacted as Record<string, unknown>) : {};
}
