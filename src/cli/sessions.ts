/** `aegisclaw sessions list|show`: what the agent was told, what it did, and what policy decided. */
import type { Command } from "commander";
import { AegisError, EXIT } from "../errors.ts";
import { openProfile } from "../config/profile.ts";
import { SessionStore, assertSessionId } from "../agent/session-store.ts";
import type { Cli } from "./program.ts";
import { decisionBadge, printJson, println, printable, style } from "./output.ts";
import { existsSync } from "node:fs";

function openSessions(home: string): SessionStore | undefined {
  const profile = openProfile(home);
  return existsSync(profile.paths.sessionsDb) ? SessionStore.open(profile.paths.sessionsDb) : undefined;
}

export function registerSessions(program: Command, cli: Cli): void {
  const sessions = program.command("sessions").description("the agent's conversations: messages, tool calls and policy decisions");
  sessions
    .command("list")
    .description("sessions, most recently active first")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(
      cli.action((opts: { limit: string; json?: boolean }, cmd: Command) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new AegisError("USAGE", "--limit takes a positive whole number", { exitCode: EXIT.usage });
        const store = openSessions(cli.home(cmd));
        const list = store?.list(limit) ?? [];
        store?.close();
        if (opts.json === true) printJson(list);
        else if (list.length === 0) println("No sessions yet. Start one with: aegisclaw chat");
        else for (const s of list) println(`${style.bold(s.id)}  ${s.updated}  ${s.channel}  ${s.model}  ${String(s.messages)} messages, ${String(s.toolCalls)} tool calls  ${style.dim(printable(s.title))}`);
        return Promise.resolve(EXIT.ok);
      }),
    );
  sessions
    .command("show")
    .description("one session: every message with its provenance label, every tool call with its decision")
    .argument("<id>", "the session id (aegisclaw sessions list)")
    .option("--json", "print JSON")
    .action(
      cli.action((id: string, opts: { json?: boolean }, cmd: Command) => {
        assertSessionId(id);
        const store = openSessions(cli.home(cmd));
        const info = store?.get(id);
        if (store === undefined || info === undefined) {
          store?.close();
          throw new AegisError("SESSION_NOT_FOUND", `There is no session ${id}. List them with: aegisclaw sessions list`);
        }
        try {
          const messages = store.messages(id);
          const calls = store.toolCalls(id);
          if (opts.json === true) {
            printJson({ session: info, messages, toolCalls: calls });
            return Promise.resolve(EXIT.ok);
          }
          println(`${style.bold(info.id)} · ${info.channel} · ${info.model} · started ${info.created}`);
          const byCall = new Map(calls.map((c) => [c.callId, c]));
          for (const m of messages) {
            const tag = m.label.startsWith("untrusted:") ? style.red(m.label) : style.dim(m.label);
            const msg = m.message;
            if (msg.role === "user") println(`\n${style.bold("user")} ${tag}${m.item === undefined ? "" : ` item ${printable(m.item)}`}\n${printable(msg.text).replace(/\\x0a/g, "\n")}`);
            else if (msg.role === "assistant") {
              if (msg.text !== "") println(`\n${style.bold("assistant")}\n${printable(msg.text).replace(/\\x0a/g, "\n")}`);
              for (const c of msg.toolCalls) {
                const rec = byCall.get(c.id);
                println(`  ${style.cyan("→")} ${printable(c.name)} ${printable(JSON.stringify(c.input ?? null)).slice(0, 300)}`);
                if (rec !== undefined) println(`    ${decisionBadge(rec.decision)} ${rec.outcome}${rec.rule === undefined ? "" : ` · rule ${printable(rec.rule)}`}${rec.skill === undefined ? "" : ` · skill ${printable(rec.skill)}`}${rec.outcome === "executed" ? "" : ` — ${printable(rec.reason).slice(0, 300)}`}`);
              }
            }
          }
          return Promise.resolve(EXIT.ok);
        } finally {
          store.close();
        }
      }),
    );
}
