/**
 * PII detectors: US social security numbers, payment card numbers, IBANs,
 * bank account numbers, e-mail addresses and phone numbers. The financial
 * ones are checked (SSA allocation rules, Luhn plus issuer prefixes, ISO 7064
 * mod-97 plus the per-country IBAN length), so a random number of the right
 * length is not enough. E-mail and phone are off by default: they are
 * everywhere in legitimate agent traffic and are configured per deployment.
 */
import type { Detector, Finding } from "./detector.ts";
import { anchorHits, declareScanNeeds, patternDetector, type Anchor } from "./pattern.ts";
import { charSet, every, oneOf } from "./prefilter.ts";
import { ibanRemainder, luhnValid } from "./validators.ts";

// Character sets for the anchors (prefilter.ts): where a number can start and what it is made of.
const DIGIT = charSet(/[0-9]/, false);
const DASH = oneOf("-");
/** What may precede a card or social security number: not a word character, `.`, `+` or `-` (the regexes' lookbehind). */
const NUMBER_BOUNDARY = charSet(/[^\w.+-]/, true);

// ---------------------------------------------------------------------------
// US social security number

/** Numbers the SSA never issues, plus the two famous "wallet" numbers that were printed on sample cards. */
function ssnValid(ssn: string): boolean {
  const area = Number(ssn.slice(0, 3));
  const group = Number(ssn.slice(4, 6));
  const serial = Number(ssn.slice(7, 11));
  if (area === 0 || area === 666 || area >= 900) return false;
  if (group === 0 || serial === 0) return false;
  return ssn !== "078-05-1120" && ssn !== "219-09-9999";
}

/** `ddd-dd-dddd` after a boundary. */
const SSN_ANCHOR: Anchor = {
  id: "us-ssn",
  at: [[3, DASH], [6, DASH], [0, DIGIT], [1, DIGIT], [2, DIGIT], [4, DIGIT], [5, DIGIT], [7, DIGIT], [-1, NUMBER_BOUNDARY]],
};

const ssn = patternDetector({
  id: "us-ssn",
  kind: "pii",
  description: "US social security number XXX-XX-XXXX, valid under SSA rules (no 000/666/9xx area, no 00 group, no 0000 serial)",
  replacement: "[SSN]",
  patterns: [{ re: /(?<![\w.+-])\d{3}-\d{2}-\d{4}(?![\w-]|\.\d)/g, anchor: SSN_ANCHOR }],
  accept: (m) => ssnValid(m.value),
});

// ---------------------------------------------------------------------------
// Payment cards

interface CardRange {
  readonly prefixes: readonly [number, number][];
  readonly lengths: readonly number[];
}

const range = (lo: number, hi = lo): [number, number] => [lo, hi];
const lengths = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** Issuer identification number ranges of the major networks and the lengths each issues. */
const CARD_RANGES: readonly CardRange[] = [
  { prefixes: [range(4)], lengths: [13, 16, 19] }, // Visa
  { prefixes: [range(51, 55), range(2221, 2720)], lengths: [16] }, // Mastercard
  { prefixes: [range(34), range(37)], lengths: [15] }, // American Express
  { prefixes: [range(6011), range(644, 649), range(65), range(622126, 622925)], lengths: lengths(16, 19) }, // Discover
  { prefixes: [range(300, 305), range(3095), range(36), range(38, 39)], lengths: lengths(14, 19) }, // Diners Club
  { prefixes: [range(3528, 3589)], lengths: lengths(16, 19) }, // JCB
  { prefixes: [range(62)], lengths: lengths(16, 19) }, // UnionPay
  { prefixes: [range(50), range(56, 58), range(6304), range(67)], lengths: lengths(13, 19) }, // Maestro
  { prefixes: [range(2200, 2204)], lengths: lengths(16, 19) }, // Mir
  { prefixes: [range(60), range(508), range(81, 82)], lengths: [16] }, // RuPay
  { prefixes: [range(9792)], lengths: [16] }, // Troy
];

function knownIssuer(digits: string): boolean {
  for (const r of CARD_RANGES) {
    if (!r.lengths.includes(digits.length)) continue;
    for (const [lo, hi] of r.prefixes) {
      const width = String(lo).length;
      const p = Number(digits.slice(0, width));
      if (p >= lo && p <= hi) return true;
    }
  }
  return false;
}

const CARD_CHAR = charSet(/[0-9 -]/, false);
/** Four digits after a boundary, and card characters through the thirteenth (a card number has at least 13 digits, grouped or not). */
const CARD_ANCHOR: Anchor = {
  id: "payment-card",
  at: [[0, DIGIT], [3, DIGIT], [12, CARD_CHAR], [7, CARD_CHAR], [-1, NUMBER_BOUNDARY], [1, DIGIT], [2, DIGIT], [4, CARD_CHAR], [10, CARD_CHAR]],
};

const paymentCard = patternDetector({
  id: "payment-card",
  kind: "pii",
  description: "Payment card number, 13–19 digits, contiguous or in groups separated by spaces or dashes; Luhn-checked and from a known issuer range",
  replacement: "[CARD_NUMBER]",
  patterns: [
    {
      re: /(?<![\w.+-])\d{4}(?:\d{9,15}|([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?|([ -])\d{6}\2\d{4,5})(?![\w-]|[.,]\d)/g,
      anchor: CARD_ANCHOR,
    },
  ],
  // The groups only hold the separator, so that it is the same throughout: the finding is the whole match.
  accept: (m) => {
    const whole = m.match[0];
    const digits = whole.replace(/[ -]/g, "");
    if (digits.length < 13 || digits.length > 19 || /^(\d)\1+$/.test(digits)) return false;
    return knownIssuer(digits) && luhnValid(digits) ? { start: m.match.index, end: m.match.index + whole.length } : false;
  },
});

// ---------------------------------------------------------------------------
// IBAN

/** IBAN length by country (ISO 13616 registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22,
  VG: 24, XK: 20,
};

const IBAN_START = /\b[A-Z]{2}\d{2}(?= ?[A-Z0-9])/g;
const IBAN_START_AT = new RegExp(IBAN_START.source, "y");
const IBAN_CHAR = charSet(/[A-Z0-9 ]/, false);
/** Country code and check digits after a non-word character, then IBAN characters through the fifteenth (the shortest IBAN, Norway's). */
const IBAN_ANCHOR: Anchor = {
  id: "iban",
  at: [
    [1, charSet(/[A-Z]/, false)],
    [2, DIGIT],
    [0, charSet(/[A-Z]/, false)],
    [3, DIGIT],
    [-1, charSet(/\W/, true)],
    [4, IBAN_CHAR],
    [8, IBAN_CHAR],
    [12, IBAN_CHAR],
    [14, IBAN_CHAR],
  ],
};
const IBAN_CHARS = /^[A-Z0-9]*$/;
const isWordChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);

/** End of an IBAN of `length` characters at `start`, written compact or in groups of four separated by single spaces; -1 if neither. */
function ibanEnd(text: string, start: number, length: number): { end: number; compact: string } | undefined {
  const compact = text.slice(start, start + length);
  if (compact.length === length && IBAN_CHARS.test(compact) && !isWordChar(text.charAt(start + length))) return { end: start + length, compact };
  let pos = start;
  let out = "";
  while (out.length < length) {
    const take = Math.min(4, length - out.length);
    const group = text.slice(pos, pos + take);
    if (group.length !== take || !IBAN_CHARS.test(group)) return undefined;
    out += group;
    pos += take;
    if (out.length < length) {
      if (text.charAt(pos) !== " ") return undefined;
      pos += 1;
    }
  }
  return isWordChar(text.charAt(pos)) ? undefined : { end: pos, compact: out };
}

const iban: Detector = declareScanNeeds(
  {
    id: "iban",
    kind: "pii",
    description: "International Bank Account Number: country code, the country's length, ISO 7064 mod-97 check; compact or grouped by four",
    replacement: "[IBAN]",
    defaultEnabled: true,
    find(text: string): Finding[] {
      const out: Finding[] = [];
      /** The IBAN starting at `m` (a match of IBAN_START), if its length and checksum are right; where the next search resumes. */
      const at = (index: number, m: string): number => {
        const length = IBAN_LENGTHS[m.slice(0, 2)];
        if (length === undefined) return index + m.length;
        const found = ibanEnd(text, index, length);
        if (found === undefined || ibanRemainder(found.compact) !== 1) return index + m.length;
        out.push({ detector: "iban", start: index, end: found.end });
        return found.end;
      };
      const starts = anchorHits(text, IBAN_ANCHOR);
      if (starts === undefined) {
        IBAN_START.lastIndex = 0;
        for (let m = IBAN_START.exec(text); m !== null; m = IBAN_START.exec(text)) IBAN_START.lastIndex = at(m.index, m[0]);
        return out;
      }
      let floor = 0;
      for (const p of starts) {
        if (p < floor) continue;
        IBAN_START_AT.lastIndex = p;
        const m = IBAN_START_AT.exec(text);
        if (m !== null) floor = at(p, m[0]);
      }
      return out;
    },
  },
  { anchors: [IBAN_ANCHOR] },
);

// ---------------------------------------------------------------------------
// Bank account numbers (in context)

const bankAccount = patternDetector({
  id: "bank-account",
  kind: "pii",
  description: "Bank account number after an account-number label (account number, acct, a/c, account no., Kontonummer…); masked to its last four digits",
  replacement: "[BANK_ACCOUNT]",
  patterns: [
    {
      triggers: ["bank", "account", "acct", "a/c", "kontonummer", "konto", "rekeningnummer"],
      re: /\b(?:bank[ \t_-]?)?(?:account|acct|a\/c|kontonummer|konto-?nr|rekeningnummer)(?:[ \t_.-]?(?:number|num|no|nr))?\.?["']?[ \t]{0,4}[:#=]?[ \t]{0,4}["']?#?(\d{2,8}(?:-\d{2,10}){1,3}|\d{6,17})(?![\w-]|[.,]\d)/gi,
    },
  ],
  accept: (m) => {
    const digits = m.value.replace(/-/g, "");
    if (digits.length < 6 || digits.length > 17) return false;
    if (/^(?:19|20)\d\d-\d\d-\d\d$/.test(m.value) || /^(\d)\1+$/.test(digits)) return false;
    return true;
  },
  replace: (match) => `****${match.replace(/\D/g, "").slice(-4)}`,
});

// ---------------------------------------------------------------------------
// E-mail (off by default)

const isAlphanumericCode = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
/** `[A-Za-z0-9._%+-]`, by character code (this runs for every character around every `@`). */
const isLocalCode = (c: number): boolean => isAlphanumericCode(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
/** `[A-Za-z0-9.-]`. */
const isDomainCode = (c: number): boolean => isAlphanumericCode(c) || c === 46 || c === 45;
/** File extensions that follow `@` in asset names (`icon@2x.png`) and package specs, not top-level domains. */
const NOT_TLDS = new Set(
  "png jpg jpeg gif svg webp ico bmp js mjs cjs ts tsx jsx css scss less json md txt html htm xml yml yaml toml lock map wasm zip gz tgz pdf py rb go rs java sh".split(" "),
);

const email: Detector = {
  id: "email",
  kind: "pii",
  description: "E-mail address (local@domain.tld)",
  replacement: "[EMAIL]",
  defaultEnabled: false,
  find(text: string): Finding[] {
    const out: Finding[] = [];
    let from = 0;
    let lastEnd = 0;
    for (let at = text.indexOf("@", from); at >= 0; at = text.indexOf("@", from)) {
      from = at + 1;
      let s = at;
      while (s > lastEnd && at - s < 64 && isLocalCode(text.charCodeAt(s - 1))) s -= 1;
      while (s < at && /[.%+-]/.test(text.charAt(s))) s += 1;
      if (s === at) continue;
      let e = at + 1;
      while (e < text.length && e - at <= 253 && isDomainCode(text.charCodeAt(e))) e += 1;
      while (e > at + 1 && /[.-]/.test(text.charAt(e - 1))) e -= 1;
      const domain = text.slice(at + 1, e);
      const labels = domain.split(".");
      const tld = labels[labels.length - 1] ?? "";
      if (labels.length < 2 || labels.some((l) => l.length === 0 || l.length > 63 || l.startsWith("-"))) continue;
      if (!/^[A-Za-z]{2,24}$/.test(tld) || NOT_TLDS.has(tld.toLowerCase())) continue;
      if (text.charAt(s - 1) === "@" || /\.\./.test(text.slice(s, at))) continue;
      // git@host:repo is an SSH remote; user@host right after :// is URL user-info.
      if (text.slice(s, at) === "git" || text.slice(s - 3, s) === "://") continue;
      // user:password@host inside a URL is a credential (url-password), not an address.
      if (text.charAt(s - 1) === ":") {
        const scheme = text.lastIndexOf("://", s);
        if (scheme >= 0 && s - scheme < 300 && !/\s/.test(text.slice(scheme, s))) continue;
      }
      out.push({ detector: "email", start: s, end: e });
      lastEnd = e;
      from = e;
    }
    return out;
  },
};

// ---------------------------------------------------------------------------
// Phone numbers (off by default)

function phoneShapeValid(candidate: string, minDigits: number, maxDigits: number): boolean {
  const digits = candidate.replace(/\D/g, "");
  if (digits.length < minDigits || digits.length > maxDigits) return false;
  if (/[ .\-/]{2,}/.test(candidate.replace(/\) /g, ")"))) return false;
  const opens = (candidate.match(/\(/g) ?? []).length;
  const closes = (candidate.match(/\)/g) ?? []).length;
  if (opens !== closes || opens > 1) return false;
  // One kind of separator (a closing parenthesis may be followed by a space).
  const seps = new Set(candidate.replace(/\) ?/g, "").replace(/[\d(+]/g, ""));
  if (seps.size > 1) return false;
  // Dates (15.01.2024, 01/02/2023, 2024-01-15), versions and addresses (1.2.3.4) are not phone numbers.
  if (/^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$/.test(candidate) || /^\d{4}-\d{2}-\d{2}/.test(candidate)) return false;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(candidate)) return false;
  return !/^(\d)\1+$/.test(digits);
}

const PHONE_CHAR = charSet(/[0-9 \-.()/]/, false);
const PHONE_SEPARATOR = charSet(/[ .-]/, false);
const AREA_DIGIT = charSet(/[2-9]/, false);
/**
 * Where one of the three phone patterns can start: after a character that
 * is not a word character or `+`, phone characters (digits, spaces, `-./()`)
 * from the second through the ninth, and one of the patterns' openings: `+`; `00` or `0` and
 * a digit; `(` and an area code; an area code and a separator; `1` and then
 * one of those (North American trunk prefix).
 */
const PHONE_ANCHOR: Anchor = {
  id: "phone",
  at: [
    [0, charSet(/[+(0-9]/, false)],
    [7, PHONE_CHAR],
    [3, PHONE_CHAR],
    every(1, 8, PHONE_CHAR),
    [-1, charSet(/[^\w+]/, true)],
    {
      anyOf: [
        [0, oneOf("+")],
        [[0, oneOf("0")], [1, DIGIT]],
        [[0, oneOf("(")], [1, AREA_DIGIT]],
        [[0, AREA_DIGIT], [3, PHONE_SEPARATOR]],
        [[0, oneOf("1")], [1, oneOf("(")]],
        [[0, oneOf("1")], [1, PHONE_SEPARATOR], [2, oneOf("(")]],
        [[0, oneOf("1")], [1, PHONE_SEPARATOR], [5, PHONE_SEPARATOR]],
        [[0, oneOf("1")], [1, AREA_DIGIT], [4, PHONE_SEPARATOR]],
      ],
    },
  ],
};

const phone = patternDetector({
  id: "phone",
  kind: "pii",
  description: "Phone number: international (+CC … or 00CC …, 8–15 digits), North American ((415) 555-0123, 415-555-0123), European national (0 + 9–11 digits, grouped)",
  replacement: "[PHONE]",
  defaultEnabled: false,
  patterns: [
    { re: /(?<![\w+])(?:\+|00)[1-9][\d \-.()]{6,20}\d(?![\w])/g, anchor: PHONE_ANCHOR },
    { re: /(?<![\w+-])(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?![\w]|-\d)/g, anchor: PHONE_ANCHOR },
    { re: /(?<![\w+.-])0[1-9][\d \-./]{6,14}\d(?![\w]|[.-]\d)/g, anchor: PHONE_ANCHOR },
  ],
  accept: (m) => {
    const v = m.value;
    if (v.startsWith("+") || v.startsWith("00")) return phoneShapeValid(v.replace(/^(?:\+|00)/, ""), 8, 15);
    if (v.startsWith("0")) return phoneShapeValid(v, 9, 12) && /[ \-./]/.test(v) === /^0\d{1,4}[ \-./]/.test(v);
    return phoneShapeValid(v, 10, 11);
  },
});

/** Every PII detector. Order matters only for ties: a card number in an "account number" line is a card. */
export const PII_DETECTORS: readonly Detector[] = [ssn, paymentCard, iban, bankAccount, email, phone];
