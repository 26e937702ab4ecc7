/**
 * The envelope: the one path from a proposed tool call to its side effect.
 *
 *   parse args → compute scopes → policy → [approval] → audit(decision)
 *   → secrets → executor → redaction → audit(outcome)
 *
 * Invariants kept here: no side effect without a decision recorded first (if
 * the audit write fails, nothing runs); default deny for unknown tools,
 * unparseable arguments, unjudgeable scopes and policy errors; secrets are
 * revoked whatever happens; the output returned is the redacted one. This
 * file orchestrates interfaces and nothing else.
 */
import { hash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { errorMessage } from "../errors.ts";
import { MemoryRateCounter, type RateCounter } from "../policy/constraints.ts";
import type { Decision, Policy } from "../policy/engine.ts";
import { scrubStrings, type Redactor } from "../guard/redact.ts";
import { newActionId, safeJson, type Action } from "./action.ts";
import { judge, prepare, type Prepared, type Proposal, type SkillCeiling } from "./judge.ts";
import { NO_SECRETS, type Approver, type AuditSink, type EventLog, type Executor, type IssuedSecrets, type SecretBroker } from "./stages.ts";
import type { AnyTool, ToolOutput } from "./tool.ts";

export type { Proposal } from "./judge.ts";

export type Outcome = "executed" | "denied" | "failed";

export interface StageTimings {
  /** Milliseconds per stage; absent stages did not run. */
  readonly [stage: string]: number;
}

export interface EnvelopeResult {
  readonly actionId: string;
  readonly outcome: Outcome;
  readonly decision: Decision["decision"];
  readonly reason: string;
  readonly rule: string | undefined;
  readonly scopes: readonly string[];
  /** Other names the call was judged under (they can only tighten). */
  readonly aliases: readonly string[];
  /** Redacted tool output (executed) or error message (failed). */
  readonly output: string;
  readonly exitCode: number | undefined;
  readonly approval: { approved: boolean; by: string; channel: string } | undefined;
  readonly timings: StageTimings;
  /** A process's stdout and stderr apart, redacted, when the tool reports them. */
  readonly streams?: { readonly stdout: string; readonly stderr: string };
  /** What the executor reported (runner, violations, egress counts), as recorded in the audit outcome. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface EnvelopeOptions {
  readonly policy: Policy;
  readonly audit: AuditSink;
  readonly approver: Approver;
  readonly broker: SecretBroker;
  readonly executor: Executor;
  readonly redactor: Redactor;
  readonly workspace: string;
  readonly rateCounter?: RateCounter;
  readonly approvalTimeoutMs?: number;
  readonly toolTimeoutMs?: number;
  readonly now?: () => Date;
  /** One line per action (and a warning per failure); the logger scrubs secrets from every line. */
  readonly log?: EventLog;
  /** Denies an action on behalf of a skill that exceeds what the skill declares. */
  readonly skillCeiling?: SkillCeiling;
}

export class Envelope {
  readonly #tools = new Map<string, AnyTool>();
  readonly #o: EnvelopeOptions;
  readonly #rateCounter: RateCounter;

  constructor(options: EnvelopeOptions) {
    this.#o = options;
    this.#rateCounter = options.rateCounter ?? new MemoryRateCounter();
  }

  register(tool: AnyTool): void {
    if (this.#tools.has(tool.name)) throw new Error(`tool ${tool.name} is already registered`);
    this.#tools.set(tool.name, tool);
  }

  /** The action a proposal would be (parsed arguments, canonical scopes) without judging or recording it. */
  preview(p: Proposal): Prepared {
    return prepare(this.#tools, p, { id: "preview", workspace: this.#o.workspace });
  }

  /** Whether an action on behalf of `skill` would stay within what the skill declares (true when there is no ceiling). */
  withinSkill(skill: string, p: Proposal): boolean {
    const { action } = this.preview({ ...p, skill });
    if (action === undefined) return false;
    return this.#o.skillCeiling?.(skill, action) === undefined;
  }

  #scrub(text: string, extra: readonly string[] = []): string {
    return this.#o.redactor.redact(text, [...this.#o.broker.knownValues(), ...extra]).text;
  }

  async submit(p: Proposal): Promise<EnvelopeResult> {
    const timings: Record<string, number> = {};
    const t0 = performance.now();
    let mark = t0;
    const lap = (stage: string): void => {
      const now = performance.now();
      timings[stage] = now - mark;
      mark = now;
    };
    const id = newActionId();

    // 1. Judge. Anything that prevents judging is a deny, recorded like any other.
    const { action, decision, safe } = judge(this.#o.policy, this.#tools, p, {
      id,
      workspace: this.#o.workspace,
      now: this.#now(),
      rateCounter: this.#rateCounter,
      ...(this.#o.skillCeiling ? { skillCeiling: this.#o.skillCeiling } : {}),
    });
    // Reserve rate-limit slots now, before the first await: concurrent calls cannot all pass a check made earlier.
    for (const key of decision.rateKeys) this.#rateCounter.record(key, this.#now().getTime());
    lap("policy");
    const tool = action ? this.#tools.get(action.tool) : undefined;

    const scopeTexts = action?.scopes.map((s) => s.text) ?? [];
    // Scopes name what the arguments name (a path, a host), so they can carry a secret: the record gets them scrubbed.
    const resource = this.#scrub(scopeTexts.join(" "));
    const baseDetail = {
      id,
      session: this.#scrub(safe.session),
      skill: safe.skill ?? null,
      labels: safe.labels.map((l) => this.#scrub(l)),
      influencedBy: safe.influencedBy.map((i) => this.#scrub(i)),
      digest: action?.digest ?? null,
      aliases: action?.aliases.map((s) => this.#scrub(s.text)) ?? [],
      args: this.#scrub(safeJson(action?.args ?? (p as { args?: unknown }).args ?? null)).slice(0, 4096),
      rule: decision.rule?.id ?? null,
      reason: this.#scrub(decision.reason),
      executor: this.#o.executor.name,
      sandboxed: this.#o.executor.sandboxed,
    };
    // 2. Record the decision before anything happens. If this fails, nothing runs.
    await this.#o.audit.append({ kind: "decision", actor: safe.actor, action: safe.tool, resource, decision: decision.decision, detail: baseDetail });
    lap("audit_decision");

    const result = (outcome: Outcome, output: string, extra: Partial<EnvelopeResult> = {}): EnvelopeResult => this.#logged({
      actionId: id,
      outcome,
      decision: decision.decision,
      reason: decision.reason,
      rule: decision.rule?.id,
      scopes: scopeTexts,
      aliases: action?.aliases.map((s) => s.text) ?? [],
      output,
      exitCode: undefined,
      approval: undefined,
      timings: { ...timings, total: performance.now() - t0 },
      ...extra,
    });

    if (decision.decision === "deny" || !action || !tool) return result("denied", "");

    // 3. Ask a person when policy says so.
    let approval: EnvelopeResult["approval"];
    if (decision.decision === "ask") {
      const answer = await this.#ask(action, decision, tool);
      approval = { approved: answer.approved, by: answer.by, channel: answer.channel };
      lap("approval");
      await this.#o.audit.append({
        kind: "approval",
        actor: answer.by,
        action: action.tool,
        resource,
        decision: answer.approved ? "approved" : "rejected",
        detail: { id, digest: action.digest, channel: answer.channel, note: this.#scrub(answer.note ?? "") },
      });
      lap("audit_approval");
      if (!answer.approved) return result("denied", "", { approval, reason: `${decision.reason} — not approved: ${answer.note ?? `${answer.by} said no`}` });
    }

    // 4. Secrets, execution, redaction. Secrets are revoked whatever happens.
    let secrets: IssuedSecrets = NO_SECRETS;
    let outcome: Outcome = "executed";
    let output = "";
    let exitCode: number | undefined;
    let streams: ToolOutput["streams"];
    let details: ToolOutput["details"];
    try {
      secrets = await this.#o.broker.issue(action, tool);
      lap("secrets");
      const controller = new AbortController();
      const timeoutMs = this.#o.toolTimeoutMs ?? 120_000;
      let timer: NodeJS.Timeout | undefined;
      // The outcome is recorded at the deadline even if a tool ignores its abort signal.
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`${tool.name} timed out after ${Math.round(timeoutMs / 1000)} s`);
          reject(err);
          controller.abort(err);
        }, timeoutMs);
      });
      try {
        const out = await Promise.race([this.#o.executor.execute({ action, tool, secrets, signal: controller.signal }), deadline]);
        output = out.text;
        exitCode = out.exitCode;
        streams = out.streams;
        details = out.details;
      } finally {
        clearTimeout(timer);
      }
      lap("execute");
    } catch (err) {
      outcome = "failed";
      output = errorMessage(err);
      lap("execute");
    }
    // A failure to revoke (a secret file that could not be removed) is recorded with the outcome, never swallowed.
    let revokeError: string | null = null;
    try {
      await secrets.revoke();
    } catch (err) {
      revokeError = this.#scrub(errorMessage(err));
    }
    const known = [...this.#o.broker.knownValues(), ...secrets.values];
    const redacted = this.#o.redactor.redact(output, known);
    const redactedStreams = streams === undefined ? undefined : { stdout: this.#o.redactor.redact(streams.stdout, known).text, stderr: this.#o.redactor.redact(streams.stderr, known).text };
    // Executor facts are ours, but a violation message can quote a host or path the tool chose: scrubbed too.
    const safeDetails = details === undefined ? undefined : (scrubStrings(details, (t) => this.#scrub(t, secrets.values)) as Record<string, unknown>);
    lap("redact");

    // 5. Record the outcome with a digest of exactly what is returned.
    await this.#o.audit.append({
      kind: "outcome",
      actor: safe.actor,
      action: action.tool,
      resource,
      decision: outcome === "executed" ? "ok" : "error",
      detail: {
        id,
        outputSha256: hash("sha256", redacted.text, "hex"),
        outputBytes: Buffer.byteLength(redacted.text),
        redactions: redacted.count,
        redactionsBy: redacted.counts,
        secrets: secrets.names,
        revokeError,
        execution: safeDetails ?? null,
        exitCode: exitCode ?? null,
        error: outcome === "failed" ? redacted.text.slice(0, 1024) : null,
        timingsMs: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
      },
    });
    lap("audit_outcome");
    return result(outcome, redacted.text, { approval, exitCode, ...(redactedStreams ? { streams: redactedStreams } : {}), ...(safeDetails ? { details: safeDetails } : {}) });
  }

  #logged(r: EnvelopeResult): EnvelopeResult {
    const fields = { action: r.actionId, scopes: r.scopes, outcome: r.outcome, decision: r.decision, rule: r.rule, ms: Math.round((r.timings.total ?? 0) * 1000) / 1000 };
    if (r.outcome === "failed") this.#o.log?.warn({ ...fields, error: r.output.slice(0, 1024) }, "tool failed");
    else this.#o.log?.info(fields, r.outcome === "denied" ? `denied: ${r.reason}` : "executed");
    return r;
  }

  async #ask(action: Action, decision: Decision, tool: AnyTool): Promise<{ approved: boolean; by: string; channel: string; note?: string }> {
    const timeoutMs = this.#o.approvalTimeoutMs ?? 10 * 60_000;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ approved: boolean; by: string; channel: string; note: string }>((resolve) => {
      timer = setTimeout(() => {
        // Settle the timeout before aborting, so the approver's reaction to the abort cannot win the race.
        resolve({ approved: false, by: "system", channel: "timeout", note: `no answer within ${Math.round(timeoutMs / 1000)} s` });
        controller.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([
        this.#o.approver.request(
          {
            action,
            decision,
            risk: tool.risk,
            description: tool.description,
            shown: { scopes: action.scopes.map((x) => this.#scrub(x.text)), args: this.#scrub(safeJson(action.args)), reason: this.#scrub(decision.reason), influencedBy: action.influencedBy.map((x) => this.#scrub(x)) },
          },
          controller.signal,
        ),
        timeout,
      ]);
    } catch (err) {
      return { approved: false, by: "system", channel: "error", note: `approver failed: ${errorMessage(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }
}
