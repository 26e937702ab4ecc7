/**
 * Judging a proposal: the pure half of the envelope. Parse the proposal and the tool's arguments, compute the
 * canonical scopes, ask the policy. Anything that prevents judging is a deny with a reason. The envelope and
 * `aegisclaw policy check` both judge through here, so they can never disagree.
 */
import { z } from "zod";
import { AegisError, errorMessage } from "../errors.ts";
import type { RateCounter } from "../policy/constraints.ts";
import type { Decision, Policy, PolicyRequest } from "../policy/engine.ts";
import { normaliseLabel, type Label } from "../policy/labels.ts";
import { parseScope, ScopeError, type Scope } from "../policy/scope.ts";
import { actionDigest, type Action } from "./action.ts";
import type { AnyTool } from "./tool.ts";

/** What an adapter (agent loop, MCP gateway, CLI, HTTP API) submits. */
export interface Proposal {
  readonly tool: string;
  readonly args: unknown;
  readonly skill?: string;
  readonly session: string;
  readonly actor: string;
  readonly labels?: readonly string[];
  readonly influencedBy?: readonly string[];
}

// eslint-disable-next-line no-control-regex
const Text = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "control characters are not allowed");
const ProposalSchema = z.object({
  tool: Text(200),
  args: z.unknown(),
  skill: Text(200).optional(),
  session: Text(200),
  actor: Text(200),
  labels: z.array(z.string().max(200)).max(64).optional(),
  influencedBy: z.array(z.string().max(500)).max(64).optional(),
});

export interface Judgement {
  /** Undefined when the proposal could not be judged (then the decision is a deny saying why). */
  readonly action: Action | undefined;
  readonly decision: Decision;
  /** The proposal's fields, safe to record even when it was malformed. */
  readonly safe: { tool: string; session: string; actor: string; skill: string | undefined; labels: Label[]; influencedBy: string[] };
}

function deny(reason: string): Decision {
  return { decision: "deny", reason, rule: undefined, scopes: [], rateKeys: [] };
}

function textOf(v: unknown, fallback: string): string {
  return typeof v === "string" && v.length > 0 ? v.slice(0, 200) : fallback;
}

export interface JudgeContext {
  readonly id: string;
  readonly workspace: string;
  readonly now: Date;
  readonly rateCounter?: RateCounter;
  /** Why an action on behalf of `skill` exceeds what the skill declares (then it is denied), or undefined. */
  readonly skillCeiling?: SkillCeiling;
}

/** The skill ceiling (skills/ceiling.ts): undefined when the action stays within what the skill declares. */
export type SkillCeiling = (skill: string, action: Action) => string | undefined;

export interface Prepared {
  readonly safe: Judgement["safe"];
  /** Set when the proposal can be judged. */
  readonly action?: Action;
  readonly request?: PolicyRequest;
  /** Why it cannot be judged (then it is denied). */
  readonly failure?: string;
}

/** Parses the proposal and the tool's arguments and computes the canonical scopes: everything but the policy. */
export function prepare(tools: ReadonlyMap<string, AnyTool>, raw: Proposal, ctx: Pick<JudgeContext, "id" | "workspace">): Prepared {
  const r = raw as Partial<Record<keyof Proposal, unknown>>;
  const labelsIn = Array.isArray(r.labels) ? (r.labels as unknown[]) : [];
  const safe = {
    tool: textOf(r.tool, "(invalid tool name)"),
    session: textOf(r.session, "(invalid session)"),
    actor: textOf(r.actor, "(invalid actor)"),
    skill: typeof r.skill === "string" ? r.skill.slice(0, 200) : undefined,
    // Anything that is not a well-formed label still taints (normaliseLabel), so a malformed label can only tighten.
    labels: labelsIn.slice(0, 64).map((l) => normaliseLabel(String(l))),
    influencedBy: Array.isArray(r.influencedBy) ? (r.influencedBy as unknown[]).slice(0, 64).map((x) => String(x).slice(0, 500)) : [],
  };
  const proposal = ProposalSchema.safeParse(raw);
  if (!proposal.success) return { safe, failure: `malformed proposal: ${proposal.error.issues.map((i) => `${i.path.join(".") || "(proposal)"}: ${i.message}`).join("; ")}` };
  const p = proposal.data;
  const tool = tools.get(p.tool);
  if (!tool) return { safe, failure: `unknown tool ${p.tool}` };
  const parsed = tool.args.safeParse(p.args);
  if (!parsed.success) return { safe, failure: `arguments for ${tool.name} are invalid: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(args)"}: ${i.message}`).join("; ")}` };
  const args = parsed.data;
  let scopes: Scope[];
  let aliases: Scope[];
  try {
    scopes = tool.scopes(args, { workspace: ctx.workspace }).map((s) => parseScope(s, { cwd: ctx.workspace }));
    aliases = (tool.aliases?.(args, { workspace: ctx.workspace }) ?? []).map((s) => parseScope(s, { cwd: ctx.workspace }));
  } catch (err) {
    return { safe, failure: `cannot work out what ${tool.name} would touch: ${errorMessage(err)}` };
  }
  let digest: string;
  try {
    digest = actionDigest(tool.name, args);
  } catch (err) {
    return { safe, failure: `arguments for ${tool.name} cannot be serialised: ${errorMessage(err)}` };
  }
  const action: Action = { id: ctx.id, tool: tool.name, args, scopes, aliases, skill: p.skill, session: p.session, labels: safe.labels, influencedBy: safe.influencedBy, actor: p.actor, digest };
  const request: PolicyRequest = { tool: action.tool, scopes, aliases, args, skill: p.skill, labels: safe.labels, actor: p.actor, argRoles: tool.argRoles, cwd: ctx.workspace };
  return { safe, action, request };
}

export function judge(policy: Policy, tools: ReadonlyMap<string, AnyTool>, raw: Proposal, ctx: JudgeContext): Judgement {
  const prepared = prepare(tools, raw, ctx);
  const { safe, action, request } = prepared;
  if (!action || !request) return { action: undefined, decision: deny(prepared.failure ?? "cannot be judged"), safe };
  if (action.skill !== undefined && ctx.skillCeiling !== undefined) {
    const beyond = ctx.skillCeiling(action.skill, action);
    if (beyond !== undefined) return { action, decision: deny(beyond), safe };
  }
  try {
    const decision = policy.decide(request, { now: ctx.now, ...(ctx.rateCounter ? { rateCounter: ctx.rateCounter } : {}) });
    return { action, decision, safe };
  } catch (err) {
    const reason = err instanceof AegisError || err instanceof ScopeError ? err.message : `policy error: ${errorMessage(err)}`;
    return { action, decision: deny(reason), safe };
  }
}
