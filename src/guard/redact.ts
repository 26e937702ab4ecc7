/**
 * Redaction of known secret values. A secret that leaks is rarely printed
 * verbatim: tools base64 it into auth headers, hex-dump it, URL-encode it,
 * put it in a JSON string. So every known value is searched for in each of
 * those forms. Detectors for unknown credentials and PII plug in behind the
 * same interface later.
 */
export interface RedactionResult {
  readonly text: string;
  /** How many spans were replaced. */
  readonly count: number;
}

export interface Redactor {
  redact(text: string, knownSecrets: readonly string[]): RedactionResult;
}

/**
 * Secrets shorter than this (in UTF-16 code units) are not redacted: a one-
 * to three-character value occurs by chance all over ordinary output, and
 * replacing every occurrence would destroy the output while hiding nothing
 * (such a value is guessable anyway). Use {@link unredactableSecrets} to find
 * them, e.g. to warn the operator that a credential is too short to protect.
 */
export const MIN_SECRET_LENGTH = 4;

/**
 * The known secrets that are too short to redact (1 to MIN_SECRET_LENGTH - 1
 * characters), deduplicated, in the order given. Empty strings are not
 * secrets and are not reported. Never throws: redaction of the other secrets
 * goes on regardless.
 */
export function unredactableSecrets(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.length > 0 && v.length < MIN_SECRET_LENGTH))];
}

const HEX_UPPER = "0123456789ABCDEF";

/** Percent-encoding of every UTF-8 byte, upper-case hex: `ab` → `%61%62`. */
function percentEncodeAll(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) out += `%${HEX_UPPER[b >> 4] ?? ""}${HEX_UPPER[b & 15] ?? ""}`;
  return out;
}

/** Lower-cases the hex digits of every `%XX` escape, leaving the rest alone. */
function lowerEscapes(text: string): string {
  return text.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
}

/**
 * Every encoding of `secret` we look for: verbatim; URL-encoded (`%20` and
 * `+` for spaces) with upper- and lower-case escapes; every byte
 * percent-encoded (both cases); hex (both cases); base64 and base64url at all
 * three alignments, so a secret inside a longer encoded blob (`Basic
 * base64(user:secret)`) is still found, including the final characters and
 * padding when the secret ends the blob; and JSON-string-escaped when that
 * differs from the secret (quotes, backslashes, control characters; also the
 * ASCII-only `\uXXXX` and `\/` spellings other encoders use). Forms shorter
 * than MIN_SECRET_LENGTH are dropped.
 */
export function secretForms(secret: string): string[] {
  const uri = encodeURIComponent(secret);
  const uriPlus = uri.replace(/%20/g, "+");
  const bytes = Buffer.from(secret, "utf8");
  const all = percentEncodeAll(bytes);
  const forms = new Set<string>([secret, uri, lowerEscapes(uri), uriPlus, lowerEscapes(uriPlus), all, all.toLowerCase()]);
  forms.add(bytes.toString("hex"));
  forms.add(bytes.toString("hex").toUpperCase());
  for (let offset = 0; offset < 3; offset += 1) {
    // Prefix `offset` filler bytes, encode, then drop the characters that depend on the filler and on what follows.
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const b64 = padded.toString("base64").replace(/=+$/, "");
    const start = Math.ceil((offset * 4) / 3);
    const usableEnd = Math.floor(((offset + bytes.length) * 4) / 3);
    const core = b64.slice(start, usableEnd);
    if (core.length >= MIN_SECRET_LENGTH) {
      // When the secret ends the encoded data (`Basic base64(user:secret)`), its last characters are known too: with and without padding.
      const full = padded.toString("base64");
      for (const f of [core, b64.slice(start), full.slice(start)]) {
        forms.add(f);
        forms.add(f.replace(/\+/g, "-").replace(/\//g, "_"));
      }
    }
  }
  const json = JSON.stringify(secret).slice(1, -1);
  forms.add(json);
  // Python's json.dumps (ensure_ascii) escapes every non-ASCII character; PHP's json_encode also escapes "/".
  forms.add(json.replace(/[^\x20-\x7e]/g, (c) => `\\u${(c.charCodeAt(0) + 0x10000).toString(16).slice(1)}`));
  forms.add(json.replace(/\//g, "\\/"));
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * One regex alternative for a form. Percent-escapes match their hex digits in
 * either case, so `%2f%2F`-style mixed output is caught too; everything else
 * matches exactly.
 */
function formSource(form: string): string {
  return escapeRegex(form).replace(/%([0-9A-Fa-f])([0-9A-Fa-f])/g, (_, a: string, b: string) => `%${caseless(a)}${caseless(b)}`);
}

function caseless(hexDigit: string): string {
  const lower = hexDigit.toLowerCase();
  const upper = hexDigit.toUpperCase();
  return lower === upper ? lower : `[${upper}${lower}]`;
}

/**
 * A regex that finds, at each position, the longest form of any known secret
 * starting there, without consuming it: the lookahead lets matches overlap,
 * so two secrets that share characters are both covered.
 */
function compile(knownSecrets: readonly string[]): RegExp | undefined {
  const byLength = new Map<string, number>();
  for (const s of knownSecrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    for (const f of secretForms(s)) {
      const source = formSource(f);
      byLength.set(source, Math.max(byLength.get(source) ?? 0, f.length));
    }
  }
  if (byLength.size === 0) return undefined;
  // Longest first, so the alternative that matches at a position is the longest form there.
  const sorted = [...byLength].sort((a, b) => b[1] - a[1]).map(([source]) => source);
  return new RegExp(`(?=(${sorted.join("|")}))`, "g");
}

export class KnownSecretRedactor implements Redactor {
  readonly #placeholder: string;
  /** The compiled pattern for the last set of known secrets: the broker usually hands over the same values again. */
  #cache: { readonly secrets: readonly string[]; readonly re: RegExp | undefined } | undefined;

  constructor(placeholder = "[REDACTED]") {
    this.#placeholder = placeholder;
  }

  #pattern(knownSecrets: readonly string[]): RegExp | undefined {
    const c = this.#cache;
    if (c && c.secrets.length === knownSecrets.length && c.secrets.every((s, i) => s === knownSecrets[i])) return c.re;
    const re = compile(knownSecrets);
    this.#cache = { secrets: [...knownSecrets], re };
    return re;
  }

  redact(text: string, knownSecrets: readonly string[]): RedactionResult {
    const re = this.#pattern(knownSecrets);
    if (re === undefined || text.length === 0) return { text, count: 0 };
    // Collect every occurrence (overlapping ones too), merge spans that overlap, replace each merged span once.
    let out = "";
    let count = 0;
    let spanStart = -1;
    let spanEnd = -1;
    let copied = 0;
    const flush = (): void => {
      if (spanStart < 0) return;
      out += text.slice(copied, spanStart) + this.#placeholder;
      copied = spanEnd;
      count += 1;
    };
    for (const m of text.matchAll(re)) {
      const start = m.index;
      const end = start + (m[1]?.length ?? 0);
      if (end === start) continue;
      if (start < spanEnd) {
        spanEnd = Math.max(spanEnd, end);
        continue;
      }
      flush();
      spanStart = start;
      spanEnd = end;
    }
    flush();
    if (count === 0) return { text, count: 0 };
    return { text: out + text.slice(copied), count };
  }
}
