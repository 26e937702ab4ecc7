/**
 * The agent runtime's own cost per turn, without model latency: a turn of the
 * real loop (scripted provider, real profile, sessions database, policy,
 * durable audit) with 10 tool calls, beside the same 10 calls submitted to the
 * same envelope directly, measured in the same run. The difference is what the
 * loop adds: translating calls, attributing skills, storing every message and
 * tool call durably before acting on it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openAgent } from "../src/agent/open.ts";
import { initAndOpen } from "../src/cli/init.ts";
import type { EgressBenchRow as BenchRow } from "./egress.ts";

const CALLS_PER_TURN = 10;

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const ms = (us: number): string => (Math.abs(us) >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);
const signed = (us: number): string => `${us >= 0 ? "+" : "−"}${ms(Math.abs(us))}`;

export async function agentTurnBench(dir: string, turns = 60): Promise<{ rows: BenchRow[]; raw: Record<string, number> }> {
  const home = join(dir, "agent-profile");
  const workspace = join(dir, "agent-workspace");
  await initAndOpen(home, workspace);
  writeFileSync(join(workspace, "notes.txt"), "Dentist on Tuesday.\n");
  mkdirSync(join(home, "scripts"), { recursive: true, mode: 0o700 });
  const calls = Array.from({ length: CALLS_PER_TURN }, (_, i) => ({ name: "read", input: { path: "notes.txt" }, id: `c${String(i)}` }));
  const script = Array.from({ length: turns + 5 }, () => [{ text: "", tool_calls: calls }, { text: "Done." }]).flat();
  writeFileSync(join(home, "scripts", "bench.yaml"), JSON.stringify({ turns: script }), { mode: 0o600 });
  const opened = await openAgent(home, { model: "scripted/bench", actor: "bench" });
  try {
    // Interleaved, so drift in disk latency (fsync dominates both) hits both series alike.
    const turnUs: number[] = [];
    const envelopeUs: number[] = [];
    for (let i = 0; i < turns + 5; i++) {
      let t0 = process.hrtime.bigint();
      const r = await opened.agent.send({ session: `bench-${String(i)}`, text: "read my notes ten times", label: "trusted:owner", channel: "bench" });
      if (r.toolCalls !== CALLS_PER_TURN || r.stopReason !== "end_turn") throw new Error(`bench turn went wrong: ${JSON.stringify(r)}`);
      if (i >= 5) turnUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      t0 = process.hrtime.bigint();
      for (let c = 0; c < CALLS_PER_TURN; c++) {
        const d = await opened.runtime.envelope.submit({ tool: "files.read", args: { path: "notes.txt" }, session: "bench-direct", actor: opened.agent.actor, labels: ["trusted:owner"] });
        if (d.outcome !== "executed") throw new Error(`bench call went wrong: ${d.reason}`);
      }
      if (i >= 5) envelopeUs.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const t50 = percentile(turnUs, 50);
    const t99 = percentile(turnUs, 99);
    const e50 = percentile(envelopeUs, 50);
    const e99 = percentile(envelopeUs, 99);
    return {
      raw: { agent_turn_p50_us: t50, agent_turn_p99_us: t99, agent_envelope10_p50_us: e50, agent_overhead_p50_us: t50 - e50 },
      rows: [
        { what: `agent turn, ${String(CALLS_PER_TURN)} tool calls, no model latency, p50/p99`, value: `${ms(t50)} / ${ms(t99)}`, baseline: `same ${String(CALLS_PER_TURN)} calls via envelope ${ms(e50)} / ${ms(e99)}`, ratio: `${signed(t50 - e50)} (${(t50 / e50).toFixed(2)}×)`, goal: "-", met: true },
        { what: "agent loop overhead per tool call, p50", value: signed((t50 - e50) / CALLS_PER_TURN), baseline: `envelope per call ${ms(e50 / CALLS_PER_TURN)}`, ratio: `${((t50 - e50) / e50 * 100).toFixed(0)} %`, goal: "-", met: true },
      ],
    };
  } finally {
    await opened.close();
  }
}
