/**
 * The building block for most detectors: one or more regular expressions,
 * an optional check on each match, and the span to redact.
 *
 * Speed. A regex pass over a megabyte costs about a millisecond even when it
 * finds nothing, and there are sixty detectors. So no detector scans the
 * whole text with a regex: each pattern says where its matches can start, and
 * one pass of the prefilter (prefilter.ts, a WebAssembly SIMD loop) finds all
 * those places for all detectors at once, cached for the text being scanned;
 * each detector then runs its own regex, sticky, only there. A pattern says
 * where it can start in one of two ways:
 *
 * - *Triggers*: literals, matched case-insensitively, one of which begins
 *   every match (or sits at most `back` characters after its start): `ghp_`,
 *   `password`, `-----BEGIN `.
 * - An *anchor*: conditions on the characters around the start (a digit
 *   after a non-word character, then more digits; `:` or `=` followed by a
 *   long run of base64 characters), for formats without a literal: card and
 *   social security numbers, IBANs, generic `key = value` assignments.
 *
 * Both are necessary conditions, never sufficient: the prefilter may report a
 * place where the regex then fails, but never misses one where it matches.
 * `setScanMode("reference")` turns the prefilter off (triggers found by a
 * plain search, anchored patterns run over the whole text) for the tests
 * that check the two give the same findings.
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
import { MAX_ANCHORS, Prefilter, type Anchor } from "./prefilter.ts";

export type { Anchor } from "./prefilter.ts";

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

/**
 * Where, relative to a trigger or anchor at `p`, a match may start: by
 * default at `p` only; a number allows every position from `p - back` to
 * `p`; a function returns the candidate starts in increasing order, none
 * after `p` (the `<` opening an XML element, the first digit of a bot id
 * before `:AA`).
 */
export type Back = number | ((text: string, p: number) => readonly number[]);

/**
 * A cheap test that holds wherever the regex matches at `start` (it may hold
 * elsewhere too), run before the regex at each candidate start: for regexes
 * whose failing attempts are expensive.
 */
export type MatchCheck = (text: string, start: number) => boolean;

/** A regex plus the literals that locate its matches (see the module comment). */
export interface TriggeredPattern {
  readonly re: RegExp;
  /** Case-insensitive literals; every match starts with one of them, or within `back` characters before one. */
  readonly triggers: readonly string[];
  readonly back?: Back;
  readonly check?: MatchCheck;
}

/** A regex plus the anchor that locates its matches (see the module comment). */
export interface AnchoredPattern {
  readonly re: RegExp;
  /** Holds at the start of every match (or, with `back`, at a place from which `back` finds the start). */
  readonly anchor: Anchor;
  readonly back?: Back;
  readonly check?: MatchCheck;
}

export interface PatternDetectorSpec {
  readonly id: string;
  readonly kind: DetectorKind;
  readonly description: string;
  readonly replacement: string;
  readonly defaultEnabled?: boolean;
  /** A bare RegExp scans the whole text; a TriggeredPattern runs only at its triggers, an AnchoredPattern only where its anchor holds. */
  readonly patterns: readonly (RegExp | TriggeredPattern | AnchoredPattern)[];
  /**
   * Decides on one match: false rejects it, true accepts the span as found,
   * a Span accepts a corrected span (absolute offsets into the text).
   */
  readonly accept?: (m: PatternMatch) => boolean | Span;
  readonly replace?: (match: string) => string;
}

// ---------------------------------------------------------------------------
// The shared index: trigger and anchor positions of the last text scanned

/**
 * How trigger and anchor positions are found: the prefilter's WebAssembly
 * kernel ("wasm", falling back to "js" where WebAssembly is unavailable), its
 * JavaScript implementation ("js"), or no prefilter at all ("reference":
 * a plain search for each trigger, and anchored patterns over the whole text).
 */
export type ScanMode = "wasm" | "js" | "reference";
let mode: ScanMode = "wasm";

const triggerLiterals = new Set<string>();
const anchors = new Map<string, Anchor>();

interface Index {
  readonly prefilter: Prefilter;
  /** The trigger literals, in the order given to the prefilter (its literal numbers). */
  readonly literals: readonly string[];
  /** Each anchor's slot in `IndexedText.anchorHits`. */
  readonly anchorSlot: ReadonlyMap<Anchor, number>;
}

interface IndexedText {
  readonly text: string;
  readonly mode: ScanMode;
  /** The prefilter's filters computed so far (bit 0: triggers, bit 1 + slot: an anchor); more are added on demand. */
  filters: number;
  readonly hits: Map<string, number[]>;
  readonly anchorHits: number[][];
}

/** Rebuilt when triggers or anchors are added. */
let index: Index | undefined;
/**
 * The index of the last text scanned: every detector of one `scanText` call
 * asks for the same text. Holds one reference to that text until the next
 * scan of a different one.
 */
let lastIndexed: IndexedText | undefined;

/** Switches how positions are found (see ScanMode), for tests and diagnostics; returns the previous mode. */
export function setScanMode(next: ScanMode): ScanMode {
  const previous = mode;
  mode = next;
  lastIndexed = undefined;
  return previous;
}

/** The implementation in use: "wasm" only if the kernel could be instantiated here. */
export function activeScanMode(): ScanMode {
  if (mode !== "wasm") return mode;
  return (index ??= buildIndex()).prefilter.backend();
}

/** Adds literals to the shared trigger set (lower-cased; printable ASCII, two characters or more). Called when detectors are defined. */
export function registerTriggers(literals: readonly string[]): void {
  for (const literal of literals) {
    const key = literal.toLowerCase();
    // ASCII only, so that lower-casing is per character and the prefilter can check literals on its one-byte-per-character copy.
    if (!/^[\x20-\x7e]{2,}$/.test(key)) throw new Error(`A trigger literal must be printable ASCII, two characters or more: ${JSON.stringify(literal)}`);
    if (triggerLiterals.has(key)) continue;
    triggerLiterals.add(key);
    index = undefined;
    lastIndexed = undefined;
  }
}

/** Adds an anchor to the prefilter (at most MAX_ANCHORS in all). Called when detectors are defined. */
export function registerAnchor(anchor: Anchor): void {
  const known = anchors.get(anchor.id);
  if (known === anchor) return;
  if (known !== undefined) throw new Error(`Two different anchors named ${anchor.id}`);
  if (anchors.size >= MAX_ANCHORS) throw new Error(`The prefilter holds at most ${MAX_ANCHORS} anchors; adding ${anchor.id}`);
  anchors.set(anchor.id, anchor);
  index = undefined;
  lastIndexed = undefined;
}

/** The registered trigger literals (lower case), for diagnostics and benchmarks. */
export function registeredTriggers(): string[] {
  return [...triggerLiterals];
}

/** The registered anchors, for diagnostics and tests. */
export function registeredAnchors(): Anchor[] {
  return [...anchors.values()];
}

function buildIndex(): Index {
  const literals = [...triggerLiterals];
  const list = [...anchors.values()];
  return { prefilter: new Prefilter(literals, list), literals, anchorSlot: new Map(list.map((a, i) => [a, i])) };
}

/**
 * The index of `text` with at least the `filters` asked for. Filters are
 * computed on demand, so that a scan with the default detectors does not pay
 * for the anchors of opt-in ones (prepareIndex asks for all a scan needs at
 * once); a filter asked for later costs one more pass over the text.
 */
function indexText(text: string, filters: number): IndexedText {
  let indexed = lastIndexed;
  if (indexed?.text !== text || indexed.mode !== mode) {
    indexed = { text, mode, filters: 0, hits: new Map(), anchorHits: Array.from((index ??= buildIndex()).anchorSlot, () => []) };
    lastIndexed = indexed;
  }
  const missing = filters & ~indexed.filters;
  if (missing === 0) return indexed;
  const idx = (index ??= buildIndex());
  const { hits, anchorHits } = indexed;
  const record = (literal: string, p: number): void => {
    const list = hits.get(literal);
    if (list === undefined) hits.set(literal, [p]);
    else list.push(p);
  };
  if (mode === "reference") {
    // Every occurrence of every literal, overlapping ones included: what the prefilter must reproduce. (No anchors: see anchorHits.)
    if ((missing & 1) !== 0) {
      for (const literal of triggerLiterals) {
        const re = new RegExp(literal.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"), "gi");
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          record(literal, m.index);
          re.lastIndex = m.index + 1;
        }
      }
      for (const list of hits.values()) list.sort((a, b) => a - b);
    }
  } else {
    const lists = idx.literals.map((literal) => {
      let list = hits.get(literal);
      if (list === undefined && (missing & 1) !== 0) hits.set(literal, (list = []));
      return list;
    });
    idx.prefilter.scan(
      text,
      {
        literal: (p, id) => lists[id]?.push(p),
        anchors: (p, bits) => {
          for (let rest = bits, a = 0; rest !== 0; rest >>= 1, a += 1) if ((rest & 1) !== 0) anchorHits[a]?.push(p);
        },
      },
      mode,
      missing,
    );
    // Only literals that occur: positionsOf and triggerHits read a missing entry as none.
    for (const [literal, list] of hits) if (list.length === 0) hits.delete(literal);
  }
  indexed.filters |= missing;
  return indexed;
}

/** What a detector asks the index for; detectors without an entry get whatever they ask for when they ask. */
const scanNeeds = new WeakMap<Detector, { readonly triggers: boolean; readonly anchors: readonly Anchor[] }>();

/** Declares what `detector` will ask the index for (prepareIndex computes it up front). Returns the detector. */
export function declareScanNeeds(detector: Detector, needs: { readonly triggers?: boolean; readonly anchors?: readonly Anchor[] }): Detector {
  for (const anchor of needs.anchors ?? []) registerAnchor(anchor);
  scanNeeds.set(detector, { triggers: needs.triggers ?? false, anchors: needs.anchors ?? [] });
  return detector;
}

/** Computes, in one pass, the index entries that `detectors` will ask for on `text` (called by scanText before running them). */
export function prepareIndex(text: string, detectors: readonly Detector[]): void {
  const idx = (index ??= buildIndex());
  let filters = 0;
  for (const d of detectors) {
    const needs = scanNeeds.get(d);
    if (needs === undefined) continue;
    if (needs.triggers) filters |= 1;
    for (const anchor of needs.anchors) filters |= 2 << (idx.anchorSlot.get(anchor) ?? 0);
  }
  if (filters !== 0) indexText(text, filters);
}

/**
 * Positions of every registered trigger literal in `text` (case-insensitive),
 * by literal, each list in increasing order. Cached for the last text, so the
 * detectors of one scan share the pass.
 */
export function triggerHits(text: string): ReadonlyMap<string, readonly number[]> {
  return indexText(text, 1).hits;
}

/**
 * Positions in `text` where `anchor` (registered) holds, in increasing order;
 * undefined in "reference" mode, where callers scan the whole text instead.
 */
export function anchorHits(text: string, anchor: Anchor): readonly number[] | undefined {
  if (mode === "reference") return undefined;
  const slot = (index ??= buildIndex()).anchorSlot.get(anchor);
  if (slot === undefined) throw new Error(`Anchor ${anchor.id} is not registered`);
  return indexText(text, 2 << slot).anchorHits[slot] ?? [];
}

/** Sorted, de-duplicated positions of any of `literals` (already registered) in `text`. */
export function positionsOf(text: string, literals: readonly string[]): readonly number[] {
  const hits = triggerHits(text);
  if (literals.length === 1) return hits.get(literals[0]?.toLowerCase() ?? "") ?? [];
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

function candidateStarts(back: Back, text: string, p: number): readonly number[] {
  if (typeof back === "function") return back(text, p);
  const out: number[] = [];
  for (let q = Math.max(0, p - back); q <= p; q += 1) out.push(q);
  return out;
}

/** Runs one sticky pattern at each trigger or anchor position (or the candidate starts `back` gives for it); matches do not overlap. */
export function eachTriggeredMatch(
  sticky: RegExp,
  positions: readonly number[],
  back: Back,
  text: string,
  onMatch: (m: PatternMatch) => void,
  check?: MatchCheck,
): void {
  let floor = 0;
  for (const p of positions) {
    if (p < floor) continue;
    if (back === 0) {
      if (check !== undefined && !check(text, p)) continue;
      sticky.lastIndex = p;
      const m = sticky.exec(text);
      if (m === null || m[0].length === 0) continue;
      onMatch(toPatternMatch(text, m));
      floor = p + m[0].length;
      continue;
    }
    for (const q of candidateStarts(back, text, p)) {
      if (q < floor || q > p) continue;
      if (check !== undefined && !check(text, q)) continue;
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
  const code = char.charCodeAt(0);
  return (text, p) => {
    for (let q = p; q >= 0 && p - q <= limit; q -= 1) if (text.charCodeAt(q) === code) return [q];
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

type CompiledPattern =
  | { readonly kind: "whole"; readonly re: RegExp }
  | { readonly kind: "triggered"; readonly re: RegExp; readonly triggers: readonly string[]; readonly back: Back; readonly check: MatchCheck | undefined }
  | { readonly kind: "anchored"; readonly re: RegExp; readonly whole: RegExp; readonly anchor: Anchor; readonly back: Back; readonly check: MatchCheck | undefined };

function compilePattern(p: RegExp | TriggeredPattern | AnchoredPattern): CompiledPattern {
  if (p instanceof RegExp) return { kind: "whole", re: compile(p, "g") };
  if ("triggers" in p) {
    registerTriggers(p.triggers);
    return { kind: "triggered", re: compile(p.re, "y"), triggers: p.triggers, back: p.back ?? 0, check: p.check };
  }
  registerAnchor(p.anchor);
  return { kind: "anchored", re: compile(p.re, "y"), whole: compile(p.re, "g"), anchor: p.anchor, back: p.back ?? 0, check: p.check };
}

/** Runs one compiled pattern over `text`. */
function runPattern(p: CompiledPattern, text: string, onMatch: (m: PatternMatch) => void): void {
  if (p.kind === "whole") {
    eachMatch(p.re, text, onMatch);
  } else if (p.kind === "triggered") {
    const positions = positionsOf(text, p.triggers);
    if (positions.length > 0) eachTriggeredMatch(p.re, positions, p.back, text, onMatch, p.check);
  } else {
    const positions = anchorHits(text, p.anchor);
    if (positions === undefined) eachMatch(p.whole, text, onMatch);
    else if (positions.length > 0) eachTriggeredMatch(p.re, positions, p.back, text, onMatch, p.check);
  }
}

export function patternDetector(spec: PatternDetectorSpec): Detector {
  const patterns = spec.patterns.map(compilePattern);
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
      for (const p of patterns) runPattern(p, text, onMatch);
      return out;
    },
  };
  const needs = {
    triggers: patterns.some((p) => p.kind === "triggered"),
    anchors: patterns.flatMap((p) => (p.kind === "anchored" ? [p.anchor] : [])),
  };
  if (spec.replace !== undefined) {
    const replace = spec.replace;
    return declareScanNeeds({ ...detector, replace }, needs);
  }
  return declareScanNeeds(detector, needs);
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
