/**
 * Provenance labels. Every piece of content the model sees, and every Action
 * it proposes, carries labels saying where its influence came from. The agent
 * runtime attaches them; policy rules match on them (`when: { tainted: true }`).
 */
export type TrustedLabel = "trusted:owner" | "trusted:system";
export type UntrustedLabel = `untrusted:${string}`;
export type Label = TrustedLabel | UntrustedLabel;

const LABEL_RE = /^(?:trusted:(?:owner|system)|untrusted:[a-z0-9][a-z0-9._/-]{0,63})$/;

export function parseLabel(text: string): Label | undefined {
  const normalised = text.normalize("NFKC").trim().toLowerCase();
  return LABEL_RE.test(normalised) ? (normalised as Label) : undefined;
}

/**
 * Fails closed: only the two exact trusted labels are trusted. Labels reach
 * the engine from adapters as plain strings, so a mis-spelt or unnormalised
 * one (`Untrusted:Email`, ` untrusted:web`, `tainted`) must still taint the
 * context rather than silently drop out of `when: { tainted: true }`.
 */
export function isUntrusted(label: Label): label is UntrustedLabel {
  return label !== "trusted:owner" && label !== "trusted:system";
}

/**
 * The form the engine compares. Only the two exact trusted labels stay trusted (adapters write those; any other
 * spelling is a bug and fails closed). Everything else is untrusted, folded (NFKC, trimmed, lower case) so a rule
 * naming `untrusted:email` still sees `Untrusted:Email`.
 */
export function normaliseLabel(text: string): Label {
  if (text === "trusted:owner" || text === "trusted:system") return text;
  const n = text.normalize("NFKC").trim().toLowerCase();
  return (n.startsWith("untrusted:") ? n : `untrusted:${n}`) as Label;
}

/** A context is tainted when anything untrusted (or unrecognised) influenced it. */
export function isTainted(labels: readonly Label[]): boolean {
  return labels.some(isUntrusted);
}
