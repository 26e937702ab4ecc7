/** Runs the real CLI (src/cli/main.ts under this Node) as a user would, capturing output and exit code. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

// Node's compile cache, shared by the CLI processes one test file starts: roughly halves each start-up.
export const COMPILE_CACHE = mkdtempSync(join(tmpdir(), "aegisclaw-test-ncc-"));
process.on("exit", () => {
  rmSync(COMPILE_CACHE, { recursive: true, force: true });
});

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Merged over this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Variables removed from the child's environment. */
  readonly unset?: readonly string[];
  readonly cwd?: string;
  /** Piped to stdin; without it stdin is empty (end of file at once, like </dev/null). */
  readonly stdin?: string;
  /** Its own session: no controlling terminal, as a script or CI job sees it. */
  readonly detached?: boolean;
  readonly timeoutMs?: number;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const unset = new Set(options.unset ?? []);
    const merged: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", NODE_COMPILE_CACHE: COMPILE_CACHE, ...options.env };
    const env = Object.fromEntries(Object.entries(merged).filter(([name]) => !unset.has(name)));
    const child = spawn(process.execPath, [MAIN, ...args], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
      detached: options.detached === true,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}
