/** Shared helpers for the SOPS tests: the vector manifest, key order, single-character tampering. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { SopsFormat } from "../../src/secrets/sops/index.ts";

export const VECTOR_DIR = "/work/shared/vectors/sops";

export interface SopsVector {
  readonly file: string;
  readonly format: SopsFormat;
  readonly sops_version: string;
  readonly data_key_hex: string;
  readonly lastmodified: string;
  readonly expect: "accept" | "reject";
  readonly mac: string | null;
  readonly plaintext: Record<string, unknown>;
  readonly comments: readonly { readonly aad: string; readonly text: string }[];
  readonly age_identity?: string;
  readonly age_recipient?: string;
}

export function loadVectors(): SopsVector[] {
  const manifest = JSON.parse(readFileSync(join(VECTOR_DIR, "manifest.json"), "utf8")) as { vectors: SopsVector[] };
  return manifest.vectors;
}

export function vectorText(vector: SopsVector): string {
  return readFileSync(join(VECTOR_DIR, vector.file), "utf8");
}

/** The keys of every map, recursively, in enumeration order: deepStrictEqual ignores key order. */
export function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    return Object.entries(value).map(([key, item]) => [key, keyOrder(item)]);
  }
  return null;
}

export interface EncField {
  /** Which ENC value in the file (0-based, in text order). */
  readonly value: number;
  readonly field: "data" | "iv" | "tag";
  /** Offset of the field's base64 text in the file, and its length. */
  readonly start: number;
  readonly length: number;
}

/** The data/iv/tag fields of every `ENC[AES256_GCM,…]` in a file's text (values, comments and the MAC). */
export function encFields(text: string): EncField[] {
  const fields: EncField[] = [];
  const pattern = /ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:[a-z]+\]/dg;
  let index = 0;
  for (const match of text.matchAll(pattern)) {
    const indices = match.indices;
    if (indices === undefined) throw new Error("regex indices missing");
    (["data", "iv", "tag"] as const).forEach((field, i) => {
      const span = indices[i + 1];
      if (span === undefined) throw new Error("group missing");
      fields.push({ value: index, field, start: span[0], length: span[1] - span[0] });
    });
    index++;
  }
  return fields;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Replace the character at `offset` by another base64 character (the next one in the alphabet; "=" becomes "A"). */
export function changeCharAt(text: string, offset: number): string {
  const char = text.charAt(offset);
  const index = BASE64.indexOf(char);
  const replacement = index === -1 ? "A" : BASE64.charAt((index + 1) % BASE64.length);
  return text.slice(0, offset) + replacement + text.slice(offset + 1);
}

/** First, middle and last character of a field: a deterministic sample of positions. */
export function samplePositions(field: EncField): number[] {
  return [...new Set([0, Math.floor(field.length / 2), field.length - 1])].map((i) => field.start + i);
}
