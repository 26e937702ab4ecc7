/**
 * A secret value that cannot be printed by accident. Every way JavaScript and
 * Node turn an object into text — `String()`, template literals, `+ ""`,
 * `JSON.stringify`, `util.inspect` / `console.log`, `util.format`, pino — gives
 * `[REDACTED]`; the value lives in a private field, so nothing enumerates,
 * spreads, clones or serialises it. `reveal()` is the one way out, and it is
 * easy to grep for.
 *
 * This stops accidents, not hostile code in the same process (which can read
 * memory, or simply call `reveal()`). JavaScript strings cannot be wiped, so a
 * revealed value lives until it is garbage-collected.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** What a secret looks like in any output. */
export const REDACTED = "[REDACTED]";

/** The symbol `util.inspect` (and so `console.log`) calls; `util.inspect.custom` is this same registered symbol. */
const inspectCustom: unique symbol = Symbol.for("nodejs.util.inspect.custom");

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export class Secret {
  // A private field: not a property, so Object.keys, spread, structuredClone and util.inspect never see it.
  readonly #value: string;

  private constructor(value: string) {
    this.#value = value;
    Object.freeze(this);
  }

  /** Wraps `value`. Throws a TypeError for anything but a string (a wrapped object would be printed). */
  static of(value: string): Secret {
    if (typeof value !== "string") throw new TypeError("Secret.of: the value must be a string");
    return new Secret(value);
  }

  /** True only for real `Secret` instances (a brand check on the private field; look-alikes and prototype tricks fail). */
  static isSecret(value: unknown): value is Secret {
    return typeof value === "object" && value !== null && #value in value;
  }

  /** The plain value. The only way out: call it at the last moment, where the value is used. */
  reveal(): string {
    return this.#value;
  }

  /** Length of the value in UTF-16 code units (what `String.prototype.length` counts). */
  get length(): number {
    return this.#value.length;
  }

  /**
   * Compares with another secret or a plain string (e.g. a presented token)
   * in constant time: both are hashed with SHA-256 and the digests compared
   * with `timingSafeEqual`, so the time depends on neither the position of
   * the first difference nor on whether the lengths match.
   */
  equals(other: Secret | string): boolean {
    const otherValue = Secret.isSecret(other) ? other.#value : other;
    if (typeof otherValue !== "string") return false;
    return timingSafeEqual(sha256(this.#value), sha256(otherValue));
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  valueOf(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](_hint: string): string {
    return REDACTED;
  }

  [inspectCustom](): string {
    return REDACTED;
  }
}

// Nobody may swap toString/toJSON/inspect for a revealing version later, process-wide.
Object.freeze(Secret.prototype);
Object.freeze(Secret);

/** True when `value` is a {@link Secret}. */
export function isSecret(value: unknown): value is Secret {
  return Secret.isSecret(value);
}
