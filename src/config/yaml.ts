/**
 * YAML → zod with line numbers. Config and policy both go through here so
 * every error a user sees names the file, the line and the field.
 */
import { LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";

export interface YamlProblem {
  readonly line: number;
  readonly path: string;
  readonly message: string;
}

export type YamlParse<T> =
  | { readonly ok: true; readonly data: T; readonly raw: unknown; readonly lineOf: (path: readonly PropertyKey[]) => number }
  | { readonly ok: false; readonly problems: readonly YamlProblem[]; readonly raw: unknown };

export function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out || "(top level)";
}

function makeLineOf(doc: Document, counter: LineCounter): (path: readonly PropertyKey[]) => number {
  return (path) => {
    // Walk up until a node with a source range exists: a missing field is reported at its parent.
    for (let len = path.length; len >= 0; len -= 1) {
      const node: unknown = len === 0 ? doc.contents : doc.getIn(path.slice(0, len), true);
      const range = (node as { range?: unknown } | null)?.range;
      if (Array.isArray(range) && typeof range[0] === "number") return counter.linePos(range[0]).line;
    }
    return 1;
  };
}

/** Parses YAML text and validates it; `preCheck` may reject the raw value first (e.g. a newer version). */
export function parseYamlWith<S extends z.ZodType>(text: string, schema: S): YamlParse<z.infer<S>> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      raw: undefined,
      problems: doc.errors.map((e) => ({ line: counter.linePos(e.pos[0]).line, path: "(yaml syntax)", message: e.message.split("\n")[0] ?? e.message })),
    };
  }
  const raw: unknown = doc.toJS();
  const lineOf = makeLineOf(doc, counter);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      // An unknown key is reported by zod on its parent object; point at the key itself.
      const path = i.code === "unrecognized_keys" && i.keys[0] !== undefined ? [...i.path, i.keys[0]] : i.path;
      return { line: lineOf(path), path: pathText(i.path), message: i.message };
    });
    return { ok: false, raw, problems: problems.sort((a, b) => a.line - b.line) };
  }
  return { ok: true, data: parsed.data, raw, lineOf };
}

export function formatProblems(file: string, problems: readonly YamlProblem[]): string {
  return problems.map((p) => `  ${file}:${p.line}: ${p.path}: ${p.message}`).join("\n");
}
