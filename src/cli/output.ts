/** Printing helpers shared by commands: one JSON shape, one error format, exit codes from errors.ts. */
import { AegisError, EXIT } from "../errors.ts";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(text = ""): void {
  process.stdout.write(`${text}\n`);
}

const useColor = process.stdout.isTTY && process.env.NO_COLOR === undefined;
function paint(code: string, text: string): string {
  return useColor ? `\u001b[${code}m${text}\u001b[0m` : text;
}
export const style = {
  bold: (t: string): string => paint("1", t),
  dim: (t: string): string => paint("2", t),
  red: (t: string): string => paint("31", t),
  green: (t: string): string => paint("32", t),
  yellow: (t: string): string => paint("33", t),
  cyan: (t: string): string => paint("36", t),
};

export function decisionBadge(decision: string): string {
  if (decision === "allow" || decision === "ok" || decision === "approved") return style.green(decision.toUpperCase());
  if (decision === "ask") return style.yellow("ASK");
  if (decision === "info") return style.dim("INFO");
  return style.red(decision.toUpperCase());
}

export function reportError(err: unknown, json: boolean): number {
  if (err instanceof AegisError) {
    if (json) process.stdout.write(`${JSON.stringify(err.toJSON(), null, 2)}\n`);
    else process.stderr.write(`aegisclaw: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: "INTERNAL", message: err instanceof Error ? err.message : String(err) }, null, 2)}\n`);
  else process.stderr.write(`aegisclaw: unexpected error (please report it): ${message}\n`);
  return EXIT.error;
}

/**
 * Makes text from the audit log safe for a terminal: tool names, labels and error output come from the agent
 * and its tools, and an escape sequence in them must not rewrite the screen. Control characters become \xNN.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Pads columns for human-readable tables. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleLength(cell)))).join("  ")).join("\n");
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}
