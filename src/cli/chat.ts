/**
 * `aegisclaw chat`: talk to the agent in the terminal. Text streams as the
 * model writes it; every tool call is shown with the policy's decision and
 * why. When policy asks, the request is shown with an id and the chat waits
 * for `/approve ID` or `/deny ID` (typed while the agent waits). Lines
 * starting with `/` are commands and are handled at once; other lines are
 * messages, answered one after another. From a pipe, lines are read the same
 * way; when input ends, anything still waiting for approval is denied.
 *
 * You typing in this terminal is the owner: your messages are `trusted:owner`.
 * The agent's calls are proposed by `model:<provider/model>` and judged as such.
 */
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { AegisError, EXIT } from "../errors.ts";
import { openAgent } from "../agent/open.ts";
import type { AgentEvent, TurnResult } from "../agent/loop.ts";
import { assertSessionId, newSessionId } from "../agent/session-store.ts";
import { PendingApprovals, clip, type PendingApproval } from "../approvals/pending.ts";
import type { Cli } from "./program.ts";
import { decisionBadge, printable, style } from "./output.ts";

interface ChatOptions {
  session?: string;
  model?: string;
  message?: string;
  json?: boolean;
}

const HELP = `commands: /approve ID  /deny ID  /pending  /session  /help  /quit`;

export function registerChat(program: Command, cli: Cli): void {
  program
    .command("chat")
    .description("talk to the agent in this terminal; every tool call it makes goes through the envelope")
    .option("--session <id>", "continue (or start) this session (default: a new one)")
    .option("--model <provider/model>", "the model (default: config.yaml agent.model)")
    .option("-m, --message <text>", "send one message, print the answer, exit")
    .option("--json", "print the agent's events as JSON lines")
    .addHelpText(
      "after",
      `
While the agent works you see each tool call, the policy decision and the rule
behind it. When policy asks for approval the chat shows an id; type
/approve ID (or /deny ID). ${HELP}

Exit status: 0 when every answer ended normally; 1 when the model failed or a
limit stopped the agent.

Examples:
  aegisclaw chat
  aegisclaw chat --session main -m "what is in notes/todo.md?"
  printf 'summarise README.md\\n' | aegisclaw chat --json`,
    )
    .action(
      cli.action(async (opts: ChatOptions, cmd: Command) => {
        if (opts.message?.trim() === "") throw new AegisError("USAGE", "--message is empty", { exitCode: EXIT.usage });
        const session = opts.session === undefined ? newSessionId() : assertSessionId(opts.session);
        const json = opts.json === true;
        const out = (text: string): void => {
          if (!json) process.stdout.write(text);
        };
        const emit = (value: unknown): void => {
          if (json) process.stdout.write(`${JSON.stringify(value)}\n`);
        };
        const approvals = new PendingApprovals();
        const opened = await openAgent(cli.home(cmd), { actor: "owner", approver: approvals, ...(opts.model === undefined ? {} : { model: opts.model }) });
        // With one message and no terminal, nobody can type /approve: a request is denied at once, not left to time out.
        const noResponder = opts.message !== undefined && !process.stdin.isTTY;
        const pending = approvals;
        pending.subscribe((e) => {
          if (e.type === "requested") {
            emit({ type: "approval_requested", approval: e.approval });
            if (!json) process.stderr.write(describeApproval(e.approval));
            if (noResponder) pending.answer(e.approval.id, { approved: false, by: "system", channel: "none", note: "no terminal to answer on (chat --message without a terminal)" });
          } else emit({ ...e, type: "approval_answered" });
        });
        if (!json) {
          const label = opened.provider.scripted ? style.yellow(opened.provider.label) : opened.provider.label;
          process.stderr.write(`${style.dim(`session ${session} · ${opened.modelRef} · ${label}`)}\n${style.dim(HELP)}\n`);
        }
        const state = { failed: false };
        const onEvent = (e: AgentEvent): void => {
          emit(e);
          if (json) return;
          if (e.type === "text") out(printable(e.delta).replace(/\\x0a/g, "\n"));
          else if (e.type === "tool_call") process.stderr.write(`\n${style.cyan("→")} ${printable(e.tool)} ${printable(JSON.stringify(e.input ?? null)).slice(0, 300)}\n`);
          else if (e.type === "tool_result") process.stderr.write(`  ${decisionBadge(e.decision)} ${e.outcome}${e.rule === undefined ? "" : ` · rule ${printable(e.rule)}`}${e.skill === undefined ? "" : ` · skill ${printable(e.skill)}`}${e.outcome === "executed" ? "" : ` — ${printable(e.reason).slice(0, 400)}`}\n`);
        };
        const finished = (r: TurnResult): void => {
          if (r.stopReason === "model_error" || r.stopReason === "model_call_limit" || r.stopReason === "timeout") state.failed = true;
          if (!json) {
            out("\n");
            if (r.error !== undefined) process.stderr.write(`${style.red("model error")}: ${printable(r.error)}\n`);
            else if (r.stopReason !== "end_turn" && r.stopReason !== "tool_use") process.stderr.write(style.dim(`[stopped: ${r.stopReason}]\n`));
          }
        };
        const ask = async (text: string): Promise<void> => {
          const r = await opened.agent.send({ session, text, label: "trusted:owner", channel: "terminal" }, onEvent);
          finished(r);
        };
        try {
          if (opts.message !== undefined) {
            // One message: approvals can still be answered on a terminal.
            const answering = process.stdin.isTTY ? readCommands(approvals, session, () => undefined) : undefined;
            await ask(opts.message);
            answering?.close();
            return state.failed ? EXIT.error : EXIT.ok;
          }
          let queue = Promise.resolve();
          await new Promise<void>((resolveDone) => {
            const rl = readCommands(approvals, session, (line) => {
              queue = queue.then(() => ask(line));
            });
            rl.on("close", () => {
              // Nobody is left to answer: what waits for approval is denied, the rest finishes.
              approvals.denyAll("the chat input ended");
              void queue.then(() => {
                resolveDone();
              });
            });
          });
          return state.failed ? EXIT.error : EXIT.ok;
        } finally {
          approvals.denyAll("the chat ended");
          await opened.close();
        }
      }),
    );
}

function describeApproval(a: PendingApproval): string {
  const influenced = a.influencedBy.length > 0 ? `\n  influenced by: ${a.influencedBy.map(printable).join(", ")}` : "";
  const labels = a.labels.filter((l) => l.startsWith("untrusted:"));
  return `\n${style.yellow("approval needed")} [${a.id}] ${printable(a.tool)} — ${printable(a.reason)}${a.rule === undefined ? "" : ` (rule ${printable(a.rule)})`}\n  scopes: ${a.scopes.map(printable).join(", ")}\n  args: ${clip(printable(a.args), 2000)}${labels.length > 0 ? `\n  ${style.red("tainted")}: ${labels.map(printable).join(", ")}` : ""}${influenced}\n  type /approve ${a.id} or /deny ${a.id}\n`;
}

/** Reads lines: commands at once, messages to `onMessage`. */
function readCommands(approvals: PendingApprovals, session: string, onMessage: (line: string) => void): ReturnType<typeof createInterface> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on("line", (raw) => {
    const line = raw.trim();
    if (line === "") return;
    if (!line.startsWith("/")) {
      onMessage(line);
      return;
    }
    const [command = "", arg] = line.split(/\s+/, 2);
    // Always by id: "the one pending now" may be a newer request than the one you read.
    const pick = (): PendingApproval | undefined => (arg === undefined ? undefined : approvals.get(arg));
    switch (command) {
      case "/approve":
      case "/deny": {
        const target = pick();
        if (target === undefined) {
          process.stderr.write(`${arg === undefined ? "give the request's id (/pending lists them)" : `no pending approval ${printable(arg)}`}\n`);
          return;
        }
        const approved = command === "/approve";
        approvals.answer(target.id, { approved, by: "owner", channel: "terminal", note: approved ? "approved in the chat" : "denied in the chat" });
        return;
      }
      case "/pending":
        for (const a of approvals.list()) process.stderr.write(describeApproval(a));
        if (approvals.list().length === 0) process.stderr.write("nothing is waiting for approval\n");
        return;
      case "/session":
        process.stderr.write(`session ${session}\n`);
        return;
      case "/help":
        process.stderr.write(`${HELP}\n`);
        return;
      case "/quit":
      case "/exit":
        rl.close();
        return;
      default:
        process.stderr.write(`unknown command ${printable(command)}; ${HELP}\n`);
    }
  });
  return rl;
}
