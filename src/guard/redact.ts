/**
 * Redaction of known secret values. A secret that leaks is rarely printed
 * verbatim: tools base64 it into auth headers, hex-dump it, URL-encode it. So
 * every known value is searched for in each of those forms. Detectors for
 * unknown credentials and PII plug in behind the same interface later.
 */
export interface RedactionResult {
  readonly text: string;
  /** How many spans were replaced. */
  readonly count: number;
}

export interface Redactor {
  redact(text: string, knownSecrets: readonly string[]): RedactionResult;
}

const MIN_SECRET_LENGTH = 4;

/** Every encoding of `secret` we look for. Base64 is taken at all three alignments so a secret inside a longer encoded blob is still found. */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, "+")]);
  const bytes = Buffer.from(secret, "utf8");
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
      forms.add(core);
      forms.add(core.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

export class KnownSecretRedactor implements Redactor {
  readonly #placeholder: string;
  constructor(placeholder = "[REDACTED]") {
    this.#placeholder = placeholder;
  }

  redact(text: string, knownSecrets: readonly string[]): RedactionResult {
    const forms = new Set<string>();
    for (const s of knownSecrets) if (s.length >= MIN_SECRET_LENGTH) for (const f of secretForms(s)) forms.add(f);
    if (forms.size === 0) return { text, count: 0 };
    // Longest first, so a form that contains another is replaced whole.
    const sorted = [...forms].sort((a, b) => b.length - a.length);
    const re = new RegExp(sorted.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
    let count = 0;
    const out = text.replace(re, () => {
      count += 1;
      return this.#placeholder;
    });
    return { text: out, count };
  }
}
