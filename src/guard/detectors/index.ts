/**
 * Detectors for unknown credentials and PII. `ALL_DETECTORS` lists every
 * detector, specific credential formats first, the context/entropy-based
 * ones after them, PII last; `scanText` / `redactFindings` use that order to
 * break ties between equally long overlapping findings.
 */
import { AegisError } from "../../errors.ts";
import { CREDENTIAL_DETECTORS } from "./credentials.ts";
import type { Detector } from "./detector.ts";
import { PII_DETECTORS } from "./pii.ts";

export type { Detector, DetectorKind, Finding, RedactionOutcome } from "./detector.ts";
export { findAll, mergeFindings, redactFindings, redactText, scanText } from "./detector.ts";
export { CREDENTIAL_DETECTORS } from "./credentials.ts";
export { PII_DETECTORS } from "./pii.ts";

export const ALL_DETECTORS: readonly Detector[] = [...CREDENTIAL_DETECTORS, ...PII_DETECTORS];

/** The detectors enabled unless configured otherwise: every credential detector and the checked PII (not e-mail, not phone). */
export function defaultDetectors(): Detector[] {
  return ALL_DETECTORS.filter((d) => d.defaultEnabled);
}

/**
 * The detectors with these ids, in `ALL_DETECTORS` order (so tie-breaking
 * does not depend on how a configuration lists them). Throws on an unknown
 * id: a typo in a redaction setting must not silently switch a detector off.
 */
export function detectorsById(ids: Iterable<string>): Detector[] {
  const wanted = new Set(ids);
  const known = new Set(ALL_DETECTORS.map((d) => d.id));
  const unknown = [...wanted].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new AegisError("CONFIG_INVALID", `Unknown redaction detector id(s): ${unknown.join(", ")}. Known ids: ${[...known].join(", ")}.`, {
      details: { unknown },
    });
  }
  return ALL_DETECTORS.filter((d) => wanted.has(d.id));
}
