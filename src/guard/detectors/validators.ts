/**
 * Checks that turn "looks like" into "is": checksums (Luhn, ISO 7064
 * mod-97, bech32), structure (base64 that decodes to the right length, a JWT
 * header that is JSON), and the statistics used for context-based secrets
 * (Shannon entropy, character classes, placeholder values). All pure.
 */

const counts = new Uint32Array(128);

/** Shannon entropy of the characters of `s`, in bits per character (0 for an empty string). */
export function shannonEntropy(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  let other: Map<number, number> | undefined;
  for (let i = 0; i < n; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 128) counts[c] = (counts[c] ?? 0) + 1;
    else {
      other ??= new Map();
      other.set(c, (other.get(c) ?? 0) + 1);
    }
  }
  // Each character's share is added once, in order of first occurrence (its count is cleared when added).
  let h = 0;
  for (let i = 0; i < n; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 128) {
      const k = counts[c] ?? 0;
      if (k > 0) {
        const p = k / n;
        h -= p * Math.log2(p);
        counts[c] = 0;
      }
    }
  }
  if (other !== undefined) {
    for (const k of other.values()) {
      const p = k / n;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/** Character classes, entropy and step ratio of a value: what the randomness checks ask, in one walk over it where possible. */
export interface TextStats extends CharClasses {
  readonly entropy: number;
  readonly stepRatio: number;
}

/**
 * charClasses, shannonEntropy and stepRatio together. For ASCII text one
 * pass counts characters, classes and steps, and a second adds each
 * character's share in order of first occurrence, as shannonEntropy does (so
 * the results are the same numbers); other text goes through the three
 * functions.
 */
export function textStats(s: string): TextStats {
  const n = s.length;
  if (n === 0 || !isAscii(s)) return { ...charClasses(s), entropy: shannonEntropy(s), stepRatio: stepRatio(s) };
  let lower = false;
  let upper = false;
  let digit = false;
  let other = false;
  let steps = 0;
  let previous = -2;
  for (let i = 0; i < n; i += 1) {
    const c = s.charCodeAt(i);
    counts[c] = (counts[c] ?? 0) + 1;
    let folded = c;
    if (c >= 97 && c <= 122) lower = true;
    else if (c >= 65 && c <= 90) {
      upper = true;
      folded = c + 32;
    } else if (c >= 48 && c <= 57) digit = true;
    else other = true;
    const d = folded - previous;
    if (i > 0 && (d === 1 || d === -1)) steps += 1;
    previous = folded;
  }
  let h = 0;
  for (let i = 0; i < n; i += 1) {
    const c = s.charCodeAt(i);
    const k = counts[c] ?? 0;
    if (k > 0) {
      const p = k / n;
      h -= p * Math.log2(p);
      counts[c] = 0;
    }
  }
  return {
    lower,
    upper,
    digit,
    other,
    count: Number(lower) + Number(upper) + Number(digit) + Number(other),
    entropy: h,
    stepRatio: n < 2 ? 0 : steps / (n - 1),
  };
}

export interface CharClasses {
  readonly lower: boolean;
  readonly upper: boolean;
  readonly digit: boolean;
  readonly other: boolean;
  /** How many of the four classes occur. */
  readonly count: number;
}

export function charClasses(s: string): CharClasses {
  let lower = false;
  let upper = false;
  let digit = false;
  let other = false;
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = true;
    else if (c >= 65 && c <= 90) upper = true;
    else if (c >= 48 && c <= 57) digit = true;
    else other = true;
  }
  return { lower, upper, digit, other, count: Number(lower) + Number(upper) + Number(digit) + Number(other) };
}

/** Luhn (mod 10) check over a string of decimal digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * ISO 7064 mod 97-10 remainder of an IBAN (country code, check digits, BBAN;
 * no spaces; letters A–Z only). A valid IBAN gives 1. Returns -1 on a
 * character outside [0-9A-Z].
 */
export function ibanRemainder(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let r = 0;
  for (let i = 0; i < rearranged.length; i += 1) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) r = (r * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) r = (r * 100 + (c - 55)) % 97;
    else return -1;
  }
  return r;
}

const BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function bech32Polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i += 1) if ((top >>> i) & 1) chk ^= BECH32_GENERATORS[i] ?? 0;
  }
  return chk >>> 0;
}

/**
 * BIP-173 bech32 checksum (constant 1, as age uses) over a whole string
 * `hrp1data`. Mixed case is invalid, as the specification says.
 */
export function bech32Valid(s: string): boolean {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return false;
  const lower = s.toLowerCase();
  const sep = lower.lastIndexOf("1");
  if (sep < 1 || sep + 7 > lower.length) return false;
  const hrp = lower.slice(0, sep);
  const values: number[] = [];
  for (let i = 0; i < hrp.length; i += 1) values.push(hrp.charCodeAt(i) >> 5);
  values.push(0);
  for (let i = 0; i < hrp.length; i += 1) values.push(hrp.charCodeAt(i) & 31);
  for (let i = sep + 1; i < lower.length; i += 1) {
    const v = BECH32_CHARSET.indexOf(lower.charAt(i));
    if (v < 0) return false;
    values.push(v);
  }
  return bech32Polymod(values) === 1;
}

/** Decodes standard or URL-safe base64 (padding optional); undefined when `s` is not base64. */
export function decodeBase64(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) return undefined;
  const body = s.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  return Buffer.from(body.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

/** The decoded JSON object of a base64url segment, or undefined when it is not one. */
export function decodeJsonSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64(segment);
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const PLACEHOLDER_WORDS = new Set([
  "changeme",
  "change_me",
  "change-me",
  "changeit",
  "password",
  "passw0rd",
  "secret",
  "token",
  "apikey",
  "api_key",
  "example",
  "sample",
  "dummy",
  "placeholder",
  "redacted",
  "removed",
  "hidden",
  "masked",
  "none",
  "null",
  "nil",
  "true",
  "false",
  "undefined",
  "todo",
  "tbd",
  "fixme",
  "notset",
  "not_set",
  "empty",
  "default",
  "required",
  "optional",
  "string",
  "test",
  "testing",
]);

/**
 * Values that stand for a secret rather than being one: variable references
 * (`${VAR}`, `$VAR`, `%VAR%`, `{{ var }}`, `process.env.X`), template holes
 * (`<TOKEN>`, `[token]`), masks (`****`, `xxxx`), encrypted SOPS values
 * (`ENC[...]`), well-known filler words, and values that are mostly one
 * repeated character.
 */
export function isPlaceholder(value: string): boolean {
  // Detectors often ask twice about the same value (raw and trimmed, then inside looksRandom).
  if (value === lastPlaceholderQuery) return lastPlaceholderAnswer;
  const answer = placeholder(value);
  lastPlaceholderQuery = value;
  lastPlaceholderAnswer = answer;
  return answer;
}

let lastPlaceholderQuery: string | undefined;
let lastPlaceholderAnswer = false;

function placeholder(value: string): boolean {
  const v = value.trim();
  if (v.length === 0) return true;
  const lower = v.toLowerCase();
  if (PLACEHOLDER_WORDS.has(lower)) return true;
  if (PLACEHOLDER_SHAPE.test(v) || PLACEHOLDER_PREFIX.test(lower) || PLACEHOLDER_WORDING.test(lower)) return true;
  return v.length >= 4 && mostCommonShare(lower) > 0.6;
}

/** Whole-value shapes: `$VAR`, `${VAR}`, `$(cmd)`, `$1`, `%VAR%`, `%s`, `<hole>`, `{{ x }}`, `{x}`, `[x]`, `()`, `!Tag x`, `@Ref(...)`. */
const PLACEHOLDER_SHAPE =
  /^(?:\$(?:\{[^}]*\}|\([^)]*\)|[A-Za-z_][A-Za-z0-9_]*|\d+)|%[A-Za-z_][\w.]*%|%[sdv]|<[^>]*>|\{\{.*\}\}|\{[A-Za-z_][\w.]*\}|\[[^\]]*\]|\(\s*\)|![A-Za-z]+\s.+|@[A-Za-z.]+\(.*)$/;
/** References to where the secret really lives: SOPS/Vault/1Password/AWS references, environment and config lookups. */
const PLACEHOLDER_PREFIX =
  /^(?:enc\[|vault:|ref\+|op:\/\/|secretref|sm:\/\/|arn:aws:secretsmanager|process\.env|os\.environ|os\.getenv|env\(|env\[|getenv|secrets\.|vars\.|config\.|settings\.|self\.|this\.|args\.|opts\.|options\.|params\.|request\.|(?:your|insert|enter|put|replace|add)[_\-\s])/;
/** Instructions and masks anywhere in the value. */
const PLACEHOLDER_WORDING =
  /(?:your|my|insert|replace|enter|put)[_\- ]?(?:own[_\- ]?)?(?:key|token|secret|password|pass|api|value|here)|replace[_-]?me|[_-]here$|example|placeholder|redacted|dummy|changeme|xxxxx|\*\*\*|\.\.\.|<[a-z_ -]+>/;

const charCounts = new Uint16Array(65536);

/** The share of the most frequent character: `aaaaaaa1` → 0.875. */
function mostCommonShare(s: string): number {
  let max = 0;
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    const k = (charCounts[c] ?? 0) + 1;
    charCounts[c] = k;
    if (k > max) max = k;
  }
  for (let i = 0; i < s.length; i += 1) charCounts[s.charCodeAt(i)] = 0;
  return max / s.length;
}

/**
 * Whether `value` looks like randomly generated key material of at least
 * `minLength` characters: enough distinct characters (entropy) and a mix of
 * character classes. The entropy bar scales with length, because a short
 * random string cannot reach the entropy of a long one.
 */
export function looksRandom(value: string, minLength: number, minClasses = 2, minEntropy = 3.0): boolean {
  if (value.length < minLength) return false;
  const stats = textStats(value);
  if (stats.count < minClasses) return false;
  const bar = Math.min(minEntropy, Math.log2(value.length) - 0.9);
  return stats.entropy >= bar && stats.stepRatio < 0.45 && !isPlaceholder(value);
}

/** Splits an identifier into lower-case words: `DB_PASSWORD` → db,password; `apiKeyProd` → api,key,prod. */
export function identifierWords(key: string): string[] {
  return isAscii(key) ? asciiIdentifierWords(key) : identifierWordsByRegex(key);
}

function identifierWordsByRegex(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i += 1) if (s.charCodeAt(i) >= 128) return false;
  return true;
}

const isLowerOrDigit = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;

/**
 * identifierWordsByRegex for ASCII keys, in one pass: a word ends before a
 * capital that follows a lower-case letter or digit (`apiKey`), or before a
 * capital that follows a capital and precedes a lower-case letter (`HTTPServer`);
 * any other character than a letter or digit separates words.
 */
function asciiIdentifierWords(key: string): string[] {
  const words: string[] = [];
  let word = "";
  for (let i = 0; i < key.length; i += 1) {
    const c = key.charCodeAt(i);
    if (!isLowerOrDigit(c) && !isUpper(c)) {
      if (word.length > 0) words.push(word);
      word = "";
      continue;
    }
    if (word.length > 0 && isUpper(c)) {
      const before = key.charCodeAt(i - 1);
      if (isLowerOrDigit(before) || (isUpper(before) && isLower(key.charCodeAt(i + 1)))) {
        words.push(word);
        word = "";
      }
    }
    word += String.fromCharCode(isUpper(c) ? c + 32 : c);
  }
  if (word.length > 0) words.push(word);
  return words;
}

/** Share of adjacent character pairs that step by exactly +1 or -1 (`abcd`, `4321`): high in made-up example tokens, about 1/30 in random ones. */
export function stepRatio(value: string): number {
  if (value.length < 2) return 0;
  let steps = 0;
  if (isAscii(value)) {
    // ASCII lower-casing is per character: no lower-cased copy needed.
    let previous = value.charCodeAt(0);
    if (isUpper(previous)) previous += 32;
    for (let i = 1; i < value.length; i += 1) {
      let c = value.charCodeAt(i);
      if (isUpper(c)) c += 32;
      const d = c - previous;
      if (d === 1 || d === -1) steps += 1;
      previous = c;
    }
    return steps / (value.length - 1);
  }
  const lower = value.toLowerCase();
  for (let i = 1; i < lower.length; i += 1) {
    const d = lower.charCodeAt(i) - lower.charCodeAt(i - 1);
    if (d === 1 || d === -1) steps += 1;
  }
  return steps / (lower.length - 1);
}

/**
 * The body of a token whose format already pins it down (a vendor prefix and
 * a fixed length): enough to reject the obvious fakes in documentation,
 * `ghp_XXXXXXXX…`, `…abcdefghijklmnop…`, `…EXAMPLE…`, without the character-class
 * rules that context-only detectors need.
 */
export function plausibleTokenBody(body: string): boolean {
  if (body.length === 0) return false;
  const bar = Math.min(3.0, Math.log2(body.length) - 1);
  const stats = textStats(body);
  return stats.entropy >= bar && stats.stepRatio < 0.45 && !isPlaceholder(body);
}
