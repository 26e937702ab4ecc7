/**
 * The building block for most detectors: one or more regular expressions,
 * an optional check on each match, and the span to redact.
 *
 * Speed. A regex pass over a megabyte costs about half a millisecond even
 * when it finds nothing, and there are sixty detectors. So a pattern may name
 * *triggers*: literals, matched case-insensitively, one of which begins every
 * match (or sits at most `back` characters after its start). All triggers of
 * all detectors are found in one pass of a single trie-shaped regex, cached
 * for the text being scanned; each detector then runs its own regex, sticky,
 * only where its triggers occur. Patterns without triggers (digits for card
 * numbers, separators for generic assignments) scan the whole text.
 *
 * Linear time. Every pattern starts with a literal or a narrow class and uses
 * only bounded quantifiers after it, or a leading boundary so that an attempt
 * inside a long run of the same characters fails at once; none nests a
 * quantifier inside another over overlapping characters.
 *
 * A pattern with capture groups redacts only its first participating group
 * (the value after `password=`, the password inside a URL), found with the
 * `d` (indices) flag, which is added automatically.
 */
import type { Detector, DetectorKind, Finding } from "./detector.ts";

export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface PatternMatch {
  readonly text: string;
  /** The whole regex match. */
  readonly match: RegExpExecArray;
  /** The secret part (first participating group, else the whole match). */
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/** A regex plus the literals that locate its matches (see the module comment). */
export interface TriggeredPattern {
  readonly re: RegExp;
  /** Case-insensitive literals; every match starts with one of them, or within `back` characters before one. */
  readonly triggers: readonly string[];
  /**
   * Where, relative to a trigger at `p`, a match may start: by default at `p`
   * only; a number allows every position from `p - back` to `p`; a function
   * returns the candidate starts (the `<` opening an XML element, the first
   * digit of a bot id before `:AA`).
   */
  readonly back?: number | ((text: string, p: number) => readonly number[]);
}

export interface PatternDetectorSpec {
  readonly id: string;
  readonly kind: DetectorKind;
  readonly description: string;
  readonly replacement: string;
  readonly defaultEnabled?: boolean;
  /** A bare RegExp scans the whole text; a TriggeredPattern runs only at its triggers. */
  readonly patterns: readonly (RegExp | TriggeredPattern)[];
  /**
   * Decides on one match: false rejects it, true accepts the span as found,
   * a Span accepts a corrected span (absolute offsets into the text).
   */
  readonly accept?: (m: PatternMatch) => boolean | Span;
  readonly replace?: (match: string) => string;
}

// ---------------------------------------------------------------------------
// The shared trigger index

const triggerLiterals = new Set<string>();
/** The regex finding any trigger, and the literals by their first two characters; rebuilt when literals are added. */
let index: { readonly re: RegExp; readonly byPrefix: ReadonlyMap<number, readonly string[]> } | undefined;
/**
 * The index of the last text scanned: every detector of one `scanText` call
 * asks for the same text. Holds one reference to that text until the next
 * scan of a different one.
 */
let lastIndexed: { readonly text: string; readonly hits: ReadonlyMap<string, readonly number[]> } | undefined;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

interface TrieNode {
  end: boolean;
  readonly next: Map<string, TrieNode>;
}

/**
 * A regex source matching any of `words`, factored into a trie: V8 tries the
 * alternatives of a disjunction one by one, so two hundred flat literals cost
 * two hundred tests per position, a trie a handful.
 */
function trieSource(words: Iterable<string>): string {
  const root: TrieNode = { end: false, next: new Map() };
  for (const w of words) {
    let node = root;
    for (const ch of w) {
      let child = node.next.get(ch);
      if (child === undefined) {
        child = { end: false, next: new Map() };
        node.next.set(ch, child);
      }
      node = child;
    }
    node.end = true;
  }
  const emit = (node: TrieNode): string => {
    // A literal ending here is enough to report the position: longer literals sharing the prefix are checked at the hit.
    if (node.end || node.next.size === 0) return "";
    const alternatives = [...node.next].map(([ch, child]) => escapeRegex(ch) + emit(child));
    return alternatives.length === 1 ? (alternatives[0] ?? "") : `(?:${alternatives.join("|")})`;
  };
  return emit(root);
}

/** Adds literals to the shared trigger set (lower-cased; printable ASCII, two characters or more). Called when detectors are defined. */
export function registerTriggers(literals: readonly string[]): void {
  for (const literal of literals) {
    const key = literal.toLowerCase();
    // ASCII only, so that lower-casing is per character (literalAt) and the two-character prefix map is exact.
    if (!/^[\x20-\x7e]{2,}$/.test(key)) throw new Error(`A trigger literal must be printable ASCII, two characters or more: ${JSON.stringify(literal)}`);
    if (triggerLiterals.has(key)) continue;
    triggerLiterals.add(key);
    index = undefined;
    lastIndexed = undefined;
  }
}

/** The registered trigger literals (lower case), for diagnostics and benchmarks. */
export function registeredTriggers(): string[] {
  return [...triggerLiterals];
}

function buildIndex(): NonNullable<typeof index> {
  const byPrefix = new Map<number, string[]>();
  for (const literal of triggerLiterals) {
    const prefix = literal.charCodeAt(0) * 128 + literal.charCodeAt(1);
    const list = byPrefix.get(prefix);
    if (list === undefined) byPrefix.set(prefix, [literal]);
    else list.push(literal);
  }
  return { re: new RegExp(trieSource(triggerLiterals), "gi"), byPrefix };
}

/** The character code at `i`, lower-cased if it is an ASCII capital. */
function lowerCodeAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Does `text` hold the lower-case ASCII `literal` at `p`, ignoring ASCII case? */
function literalAt(text: string, p: number, literal: string): boolean {
  if (p + literal.length > text.length) return false;
  for (let j = 2; j < literal.length; j += 1) if (lowerCodeAt(text, p + j) !== literal.charCodeAt(j)) return false;
  return true;
}

/**
 * Positions of every registered trigger literal in `text` (case-insensitive),
 * by literal: one pass of a trie-shaped regex, then, at each hit, a check of
 * the literals sharing its first two characters. Cached for the last text, so
 * the detectors of one scan share the pass.
 */
export function triggerHits(text: string): ReadonlyMap<string, readonly number[]> {
  if (lastIndexed?.text === text) return lastIndexed.hits;
  const { re, byPrefix } = (index ??= buildIndex());
  const hits = new Map<string, number[]>();
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const p = m.index;
    // The regex matched a literal here, so the first two characters are ASCII; the group shares them.
    for (const literal of byPrefix.get(lowerCodeAt(text, p) * 128 + lowerCodeAt(text, p + 1)) ?? []) {
      if (!literalAt(text, p, literal)) continue;
      const list = hits.get(literal);
      if (list === undefined) hits.set(literal, [p]);
      else list.push(p);
    }
    // Literals may overlap ("sk-" inside "task-"), so the next search starts one character on.
    re.lastIndex = p + 1;
  }
  lastIndexed = { text, hits };
  return hits;
}

/** Sorted, de-duplicated positions of any of `literals` (already registered) in `text`. */
export function positionsOf(text: string, literals: readonly string[]): number[] {
  const hits = triggerHits(text);
  const out: number[] = [];
  for (const literal of literals) for (const p of hits.get(literal.toLowerCase()) ?? []) out.push(p);
  out.sort((a, b) => a - b);
  return out.filter((p, i) => i === 0 || p !== out[i - 1]);
}

// ---------------------------------------------------------------------------
// Pattern detectors

/** Capturing groups in a regex source: `(` not escaped, not inside a class, not followed by `?` (or followed by `?<name>`). */
function groupCount(re: RegExp): number {
  const src = re.source;
  let n = 0;
  let inClass = false;
  for (let i = 0; i < src.length; i += 1) {
    const c = src.charAt(i);
    if (c === "\\") i += 1;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(" && (src.charAt(i + 1) !== "?" || (src.charAt(i + 2) === "<" && !"=!".includes(src.charAt(i + 3))))) n += 1;
  }
  return n;
}

function compile(re: RegExp, mode: "g" | "y"): RegExp {
  let flags = re.flags.replace(/[gy]/g, "") + mode;
  if (groupCount(re) > 0 && !flags.includes("d")) flags += "d";
  return new RegExp(re.source, flags);
}

/** The secret span of one match: the first participating capture group, else the whole match. */
export function toPatternMatch(text: string, m: RegExpExecArray): PatternMatch {
  const indices = m.indices;
  if (indices !== undefined) {
    for (let g = 1; g < indices.length; g += 1) {
      const span = indices[g];
      const value = m[g];
      if (span !== undefined && value !== undefined) return { text, match: m, value, start: span[0], end: span[1] };
    }
  }
  return { text, match: m, value: m[0], start: m.index, end: m.index + m[0].length };
}

/** Runs one global pattern over the whole text. */
export function eachMatch(re: RegExp, text: string, onMatch: (m: PatternMatch) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex += 1;
      continue;
    }
    onMatch(toPatternMatch(text, m));
  }
}

type Back = NonNullable<TriggeredPattern["back"]>;

function candidateStarts(back: Back, text: string, p: number): readonly number[] {
  if (typeof back === "function") return back(text, p);
  const out: number[] = [];
  for (let q = Math.max(0, p - back); q <= p; q += 1) out.push(q);
  return out;
}

/** Runs one sticky pattern at each trigger position (or the candidate starts `back` gives for it); matches do not overlap. */
export function eachTriggeredMatch(sticky: RegExp, positions: readonly number[], back: Back, text: string, onMatch: (m: PatternMatch) => void): void {
  let floor = 0;
  for (const p of positions) {
    if (p < floor) continue;
    const starts = back === 0 ? [p] : candidateStarts(back, text, p);
    for (const q of starts) {
      if (q < floor || q > p) continue;
      sticky.lastIndex = q;
      const m = sticky.exec(text);
      if (m === null || m[0].length === 0) continue;
      onMatch(toPatternMatch(text, m));
      floor = q + m[0].length;
      break;
    }
  }
}

/** A `back` that starts a match at the last `char` within `limit` characters before the trigger. */
export function backTo(char: string, limit: number): (text: string, p: number) => readonly number[] {
  return (text, p) => {
    for (let q = p; q >= 0 && p - q <= limit; q -= 1) if (text.charAt(q) === char) return [q];
    return [];
  };
}

/** A `back` that starts a match at the beginning of the run of `chars` (at most `limit` long) that ends at the trigger. */
export function backOver(chars: RegExp, limit: number): (text: string, p: number) => readonly number[] {
  return (text, p) => {
    let q = p;
    while (q > 0 && p - q < limit && chars.test(text.charAt(q - 1))) q -= 1;
    return q < p ? [q] : [];
  };
}

interface CompiledPattern {
  readonly re: RegExp;
  readonly triggers: readonly string[] | undefined;
  readonly back: Back;
}

export function patternDetector(spec: PatternDetectorSpec): Detector {
  const patterns: CompiledPattern[] = spec.patterns.map((p) => {
    if (p instanceof RegExp) return { re: compile(p, "g"), triggers: undefined, back: 0 };
    registerTriggers(p.triggers);
    return { re: compile(p.re, "y"), triggers: p.triggers, back: p.back ?? 0 };
  });
  const { id, accept } = spec;
  const detector: Detector = {
    id,
    kind: spec.kind,
    description: spec.description,
    replacement: spec.replacement,
    defaultEnabled: spec.defaultEnabled ?? true,
    find(text: string): Finding[] {
      const out: Finding[] = [];
      const onMatch = (m: PatternMatch): void => {
        const verdict = accept === undefined ? true : accept(m);
        if (verdict === false) return;
        const span = verdict === true ? m : verdict;
        if (span.end <= span.start) return;
        const last = out[out.length - 1];
        if (last !== undefined && last.start === span.start && last.end === span.end) return;
        out.push({ detector: id, start: span.start, end: span.end });
      };
      for (const p of patterns) {
        if (p.triggers === undefined) eachMatch(p.re, text, onMatch);
        else {
          const positions = positionsOf(text, p.triggers);
          if (positions.length > 0) eachTriggeredMatch(p.re, positions, p.back, text, onMatch);
        }
      }
      return out;
    },
  };
  if (spec.replace !== undefined) {
    const replace = spec.replace;
    return { ...detector, replace };
  }
  return detector;
}

/**
 * The regex source for an assignment separator between a key and a value, as
 * written in .env, shell, YAML, JSON, TOML, INI, HCL, Python, JS and Ruby:
 * optional closing quote of the key, then `=`, `:`, `:=`, `=>` or `->` with
 * optional spaces, then an optional opening quote.
 */
export const ASSIGN = String.raw`["']?[ \t]{0,4}(?::=|=>|->|[:=])[ \t]{0,4}["'\x60]?`;

/** Like ASSIGN, but whitespace alone also separates (CLI flags, `aws configure set key value`, `Header: value`). */
export const ASSIGN_OR_SPACE = String.raw`["']?(?:[ \t]{0,4}(?::=|=>|->|[:=])[ \t]{0,4}|[ \t]{1,4})["'\x60]?`;
