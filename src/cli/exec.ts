/**
 * `aegisclaw exec -- CMD ARGS…`: one command through the whole envelope —
 * policy for the program, its mounts and hosts; approval when policy asks;
 * the skill's secrets; the sandbox; redaction; the audit log. The command
 * is the owner's own (actor `owner`, label `trusted:owner`), so the default
 * policy runs it without a prompt; what it may see and reach is exactly what
 * the flags ask for.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { AegisError, EXIT } from "../errors.ts";
import type { EnvelopeResult } from "../envelope/envelope.ts";
import type { ApprovalAnswer, ApprovalRequest, Approver } from "../envelope/stages.ts";
import { NoApprover } from "../envelope/stages.ts";
import { openRuntime } from "../runtime.ts";
import type { SandboxBackendChoice } from "../sandbox/index.ts";
import type { Cli } from "./program.ts";
import { printJson, printable, style } from "./output.ts";

/** Exit statuses of exec itself, as `docker run` uses them, so they do not collide with the command's own. */
export const EXEC_EXIT = {
  /** The sandbox or AegisClaw failed; the command did not run (or did not finish). */
  failed: 125,
  /** Policy denied the command (or an approval was refused). */
  denied: 126,
} as const;

const BACKENDS: Record<string, SandboxBackendChoice> = { bwrap: "bubblewrap", bubblewrap: "bubblewrap", gvisor: "gvisor", docker: "docker" };

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `PATH` or `PATH:rw` (a path may itself contain colons; only a final `:rw`/`:ro` is a mode). */
function parseMount(spec: string): { path: string; rw: boolean } {
  const m = /^(.*):(rw|ro)$/.exec(spec);
  const path = m?.[1] ?? spec;
  if (path === "") throw new AegisError("USAGE", `--mount ${spec}: give a path, optionally followed by :rw`, { exitCode: EXIT.usage });
  // A relative path means what it means in the user's shell: relative to where they are, not to the workspace.
  return { path: resolve(path), rw: m?.[2] === "rw" };
}

/** Asks on the terminal when policy says ask; without a terminal the answer is no. */
class TerminalApprover implements Approver {
  async request(req: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer> {
    if (!process.stdin.isTTY || !process.stderr.isTTY) return new NoApprover().request();
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      process.stderr.write(`${style.yellow("approval needed")}: ${printable(req.shown.reason)}\n  scopes: ${req.shown.scopes.map(printable).join(", ")}\n`);
      const answer = await rl.question("Run it? [y/N] ", { signal });
      const yes = /^y(es)?$/i.test(answer.trim());
      return { approved: yes, by: "owner", channel: "tty", note: yes ? "approved at the terminal" : "declined at the terminal" };
    } finally {
      rl.close();
    }
  }
}

interface ExecOptions {
  skill?: string;
  allowNet: string[];
  mount: string[];
  cwd?: string;
  write?: boolean;
  backend?: string;
  timeout?: string;
  json?: boolean;
  unsafeHost?: boolean;
}

export function registerExec(program: Command, cli: Cli): void {
  program
    .command("exec")
    .description("run one command in the sandbox, through policy, secrets, redaction and the audit log")
    .argument("<command...>", "the program and its arguments (put -- before them)")
    .option("--skill <name>", "run on behalf of this skill: it gets the secrets the skill declares and policy grants it")
    .option("--allow-net <host>", "a host (or host:port) the command may reach through the egress proxy (repeatable); none: no network", collect, [])
    .option("--mount <path[:rw]>", "make a host path visible at the same path, read-only unless :rw (repeatable)", collect, [])
    .option("--cwd <dir>", "directory to start in (default: the workspace; relative to where you are); it is visible read-only")
    .option("--write", "make the starting directory writable")
    .option("--backend <name>", "sandbox: bwrap (default) | gvisor | docker")
    .option("--timeout <seconds>", "stop the command after this long (default 120)")
    .option("--unsafe-host", "run on this machine without a sandbox (recorded in the audit log)")
    .option("--json", "print {exitCode, stdout, stderr, violations, backend, durationMs, decision} as JSON")
    .addHelpText(
      "after",
      `
Nothing of your home directory, no network and no other process is visible to
the command unless a flag above grants it; each grant is judged by policy.yaml
(files.read / files.write for mounts, net.connect for hosts; credential stores
such as ~/.ssh stay denied). Output is shown when the command ends, with known
secrets and detected credentials removed.

Exit status: the command's own; ${EXEC_EXIT.denied} when policy denied it; ${EXEC_EXIT.failed} when the
sandbox could not run it.

Examples:
  aegisclaw exec -- ls -la
  aegisclaw exec --mount ~/project:rw --cwd ~/project -- make test
  aegisclaw exec --skill github --allow-net api.github.com -- gh api user`,
    )
    .action(
      cli.action(async (command: string[], opts: ExecOptions, cmd: Command) => {
        const backend = opts.backend === undefined ? undefined : BACKENDS[opts.backend];
        if (opts.backend !== undefined && backend === undefined) throw new AegisError("USAGE", `--backend ${opts.backend}: use bwrap, gvisor or docker`, { exitCode: EXIT.usage });
        const timeout = opts.timeout === undefined ? undefined : Number(opts.timeout);
        if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600)) throw new AegisError("USAGE", "--timeout takes whole seconds, 1 to 3600", { exitCode: EXIT.usage });
        const runtime = await openRuntime(cli.home(cmd), {
          actor: "owner",
          approver: new TerminalApprover(),
          ...(opts.unsafeHost === true ? { unsafeHost: true } : {}),
          ...(backend !== undefined ? { backend } : {}),
        });
        let r: EnvelopeResult;
        try {
          r = await runtime.envelope.submit({
            tool: "shell.exec",
            args: {
              argv: command,
              ...(opts.cwd !== undefined ? { cwd: resolve(opts.cwd) } : {}),
              ...(opts.write === true ? { write: true } : {}),
              ...(opts.mount.length > 0 ? { mounts: opts.mount.map(parseMount) } : {}),
              ...(opts.allowNet.length > 0 ? { allow_net: opts.allowNet } : {}),
              ...(timeout !== undefined ? { timeout_s: timeout } : {}),
            },
            session: `exec-${String(process.pid)}`,
            actor: "owner",
            labels: ["trusted:owner"],
            ...(opts.skill !== undefined ? { skill: opts.skill } : {}),
          });
        } finally {
          await runtime.close();
        }
        return report(r, opts.json === true);
      }),
    );
}

function report(r: EnvelopeResult, json: boolean): number {
  const violations = Array.isArray(r.details?.violations) ? (r.details.violations as { kind: string; message: string }[]) : [];
  const exitCode = r.outcome === "denied" ? EXEC_EXIT.denied : r.outcome === "failed" ? EXEC_EXIT.failed : (r.exitCode ?? 0);
  if (json) {
    printJson({
      exitCode,
      stdout: r.streams?.stdout ?? (r.outcome === "executed" ? r.output : ""),
      stderr: r.streams?.stderr ?? "",
      violations,
      backend: typeof r.details?.runner === "string" ? r.details.runner : null,
      durationMs: typeof r.details?.durationMs === "number" ? r.details.durationMs : null,
      decision: r.decision,
      outcome: r.outcome,
      reason: r.reason,
      rule: r.rule ?? null,
      ...(r.outcome === "failed" ? { error: r.output } : {}),
      actionId: r.actionId,
    });
    return exitCode;
  }
  if (r.streams) {
    process.stdout.write(r.streams.stdout);
    process.stderr.write(r.streams.stderr);
  }
  if (r.outcome === "denied") {
    process.stderr.write(`${style.red("aegisclaw: not run")} — ${printable(r.reason)}${r.rule ? ` (rule ${r.rule} in policy.yaml)` : ""}\n  judged: ${r.scopes.map(printable).join(", ")}\n`);
  } else if (r.outcome === "failed") {
    process.stderr.write(`${style.red("aegisclaw: failed")} — ${printable(r.output)}\n`);
  }
  for (const v of violations) process.stderr.write(`${style.yellow("aegisclaw:")} ${printable(v.message)}\n`);
  return exitCode;
}
