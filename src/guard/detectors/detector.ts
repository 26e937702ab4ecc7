/**
 * Detectors for credentials and PII that nobody told us about: unlike the
 * known-value redactor (`../redact.ts`), these recognise a secret by its
 * shape (a prefix, a length, a checksum) or by its context (`password=`).
 *
 * A detector only reports *where* it saw something. Findings carry offsets
 * and the detector id, never the matched text, so a finding can go into a
 * report, a metric or the audit log without leaking what it points at.
 */

import { prepareIndex } from "./pattern.ts";

export type DetectorKind = "credential" | "pii";

/** A span of `text` that a detector flagged: `text.slice(start, end)` is the sensitive part only. */
export interface Finding {
  readonly detector: string;
  readonly start: number;
  readonly end: number;
}

export interface Detector {
  /** Stable, kebab-case; used in configuration (`detectorsById`) and as the key of audit counts. */
  readonly id: string;
  readonly kind: DetectorKind;
  readonly description: string;
  /** What replaces a finding, e.g. `[AWS_ACCESS_KEY_ID]`; also the fallback when `replace` cannot be used. */
  readonly replacement: string;
  /** Whether `defaultDetectors()` includes it. Noisy PII (e-mail, phone) is opt-in. */
  readonly defaultEnabled: boolean;
  /** Every span of `text` this detector flags, in any order, possibly overlapping. Must be linear in `text.length`. */
  find(text: string): Finding[];
  /**
   * A replacement computed from the matched text, for detectors whose output
   * keeps a harmless part of the value (a bank account masked to `****1234`).
   * It receives the sensitive text and must return only what may be shown.
   */
  replace?(match: string): string;
}

export interface RedactionOutcome {
  readonly text: string;
  /** How many spans each detector replaced, by detector id. Counts only: safe for the audit log. */
  readonly counts: Record<string, number>;
}

/**
 * Findings merged so that none overlap, sorted by start. Overlapping findings
 * become one span covering all of them (so no part of either secret
 * survives), attributed to the longest of them; on equal length the detector
 * listed first in `order` wins, which is why specific detectors are listed
 * before generic ones. Spans that merely touch stay separate.
 */
export function mergeFindings(findings: readonly Finding[], order: readonly string[] = []): Finding[] {
  const rank = new Map<string, number>();
  order.forEach((id, i) => {
    if (!rank.has(id)) rank.set(id, i);
  });
  const rankOf = (id: string): number => rank.get(id) ?? order.length;
  const valid = findings.filter((f) => f.end > f.start);
  valid.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Finding[] = [];
  let current: { start: number; end: number; winner: Finding } | undefined;
  const better = (a: Finding, b: Finding): boolean => {
    const la = a.end - a.start;
    const lb = b.end - b.start;
    return la !== lb ? la > lb : rankOf(a.detector) < rankOf(b.detector);
  };
  for (const f of valid) {
    if (current !== undefined && f.start < current.end) {
      current.end = Math.max(current.end, f.end);
      if (better(f, current.winner)) current.winner = f;
      continue;
    }
    if (current !== undefined) merged.push({ detector: current.winner.detector, start: current.start, end: current.end });
    current = { start: f.start, end: f.end, winner: f };
  }
  if (current !== undefined) merged.push({ detector: current.winner.detector, start: current.start, end: current.end });
  return merged;
}

/** Runs every detector over `text` and returns non-overlapping findings, sorted (see `mergeFindings`). */
export function scanText(text: string, detectors: readonly Detector[]): Finding[] {
  return mergeFindings(
    findAll(text, detectors),
    detectors.map((d) => d.id),
  );
}

/** Every finding of every detector, unmerged (they may overlap): what `redactFindings` takes, with others' findings added. */
export function findAll(text: string, detectors: readonly Detector[]): Finding[] {
  if (text.length === 0) return [];
  // One pass of the prefilter for everything these detectors will look up (pattern.ts).
  prepareIndex(text, detectors);
  const all: Finding[] = [];
  for (const d of detectors) {
    for (const f of d.find(text)) all.push(f);
  }
  return all;
}

/** The placeholder for a finding whose detector is not in the list (should not happen; never reveal anything). */
const UNKNOWN_DETECTOR_REPLACEMENT = "[REDACTED]";

/**
 * Replaces every finding in `text` by its detector's replacement. Findings are
 * merged first, so the input may overlap or be unsorted. A detector's
 * per-match `replace` is used only when the merged span is exactly what that
 * detector found; a span widened by a merge gets the fixed replacement, so a
 * mask such as "last four digits" never shows digits of a neighbouring secret.
 */
export function redactFindings(text: string, findings: readonly Finding[], detectors: readonly Detector[]): RedactionOutcome {
  const counts: Record<string, number> = {};
  if (findings.length === 0) return { text, counts };
  const byId = new Map<string, Detector>();
  for (const d of detectors) if (!byId.has(d.id)) byId.set(d.id, d);
  // Which detectors found exactly [start, end): only they may use their own `replace` (looked up only for detectors that have one).
  const exact = new Set<string>();
  for (const f of findings) if (byId.get(f.detector)?.replace !== undefined) exact.add(`${f.detector}\u0000${f.start}\u0000${f.end}`);
  const merged = mergeFindings(
    findings.map((f) => ({ detector: f.detector, start: Math.max(0, f.start), end: Math.min(text.length, f.end) })),
    detectors.map((d) => d.id),
  );
  const parts: string[] = [];
  let copied = 0;
  for (const f of merged) {
    const d = byId.get(f.detector);
    let replacement = d?.replacement ?? UNKNOWN_DETECTOR_REPLACEMENT;
    if (d?.replace !== undefined && exact.has(`${f.detector}\u0000${f.start}\u0000${f.end}`)) {
      replacement = d.replace(text.slice(f.start, f.end));
    }
    parts.push(text.slice(copied, f.start), replacement);
    copied = f.end;
    counts[f.detector] = (counts[f.detector] ?? 0) + 1;
  }
  parts.push(text.slice(copied));
  return { text: parts.join(""), counts };
}

/** `scanText` then `redactFindings`: the one call most callers want. */
export function redactText(text: string, detectors: readonly Detector[]): RedactionOutcome {
  return redactFindings(text, scanText(text, detectors), detectors);
}
