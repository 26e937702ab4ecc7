/**
 * The built-in policy engine.
 *
 * Semantics, in one place:
 *  - An action needs every one of its scopes covered. For each scope, the
 *    rules whose `match` and `when` fit are collected.
 *  - A matching `allow` rule with constraints checks them against the actual
 *    arguments; a violation turns it into its `on_violation` (default deny).
 *  - Among the matching rules, deny beats ask beats allow. No matching rule
 *    means deny.
 *  - An `ask` rule conditioned on untrusted provenance (`when: { tainted:
 *    true }`, or `when.labels` naming only untrusted labels) only tightens:
 *    it raises a scope that another rule covers, and never covers a scope on
 *    its own. Taint must never turn a default deny into a question.
 *  - The action's decision is the strictest decision over its scopes; an
 *    action with no scopes is denied. Aliases (other names for a scope's
 *    resource, e.g. a program's real path) are judged too, but only a deny or
 *    ask on them counts: they need no allow of their own.
 * The engine is pure except for reading the rate counter and the clock it is
 * handed; `explain` shows every rule considered and why it did or did not fit.
 */
import { checkConstraints, DEFAULT_ARG_ROLES, type ArgRoles, type CompiledConstraints, type ConstraintsSpec, type RateCounter, MemoryRateCounter } from "./constraints.ts";
import { isTainted, normaliseLabel, type Label } from "./labels.ts";
import { compileNameMatcher, compileScopePattern, fold, type ScopePattern } from "./pattern.ts";
import type { DecisionKind, RuleSpec } from "./schema.ts";
import type { Scope } from "./scope.ts";

export type PolicyVariables = Readonly<Record<string, string>>;

export interface CompiledRule {
  readonly id: string;
  readonly index: number;
  readonly line: number;
  readonly decision: DecisionKind;
  readonly reason: string;
  readonly tool: ((t: string) => boolean) | undefined;
  readonly skill: ((s: string) => boolean) | undefined;
  readonly scopes: readonly ScopePattern[] | undefined;
  readonly tainted: boolean | undefined;
  readonly labels: ((l: string) => boolean)[] | undefined;
  readonly actor: ((a: string) => boolean) | undefined;
  readonly constraints: CompiledConstraints | undefined;
  readonly onViolation: "ask" | "deny";
  /** An ask conditioned on untrusted provenance: it can raise a covered scope, never cover one. */
  readonly tightenOnly: boolean;
  readonly spec: RuleSpec;
}

export class RuleCompileError extends Error {
  readonly ruleIndex: number;
  constructor(ruleIndex: number, message: string) {
    super(message);
    this.ruleIndex = ruleIndex;
  }
}

function expand(text: string, vars: PolicyVariables): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`unknown variable \${${name}} (known: ${Object.keys(vars).map((k) => `\${${k}}`).join(", ") || "none"})`);
    return value;
  });
}

export function compileRules(
  specs: readonly RuleSpec[],
  vars: PolicyVariables,
  lineOf: (index: number) => number,
  compileConstraintsFn: (spec: ConstraintsSpec) => CompiledConstraints,
): CompiledRule[] {
  const ids = new Set<string>();
  return specs.map((spec, index) => {
    const id = spec.id ?? `rule-${index + 1}`;
    const line = lineOf(index);
    try {
      if (ids.has(id)) throw new Error(`duplicate rule id "${id}"`);
      ids.add(id);
      const constraints = spec.constraints
        ? compileConstraintsFn({ ...spec.constraints, ...(spec.constraints.paths ? { paths: spec.constraints.paths.map((p) => expand(p, vars)) } : {}) })
        : undefined;
      const anyOf = (globs: readonly string[] | undefined): ((v: string) => boolean) | undefined => {
        if (!globs) return undefined;
        const ms = globs.map(compileNameMatcher);
        return (v) => ms.some((m) => m(v));
      };
      return {
        id,
        index,
        line,
        decision: spec.decision,
        reason: spec.reason,
        tool: anyOf(spec.match.tool),
        // Skills and labels compare in their folded form on both sides (see #run), so case or width cannot dodge a rule.
        skill: anyOf(spec.match.skill?.map(fold)),
        scopes: spec.match.scope?.map((s) => compileScopePattern(expand(s, vars))),
        tainted: spec.when?.tainted,
        labels: spec.when?.labels?.map((l) => compileNameMatcher(fold(l).trim())),
        actor: anyOf(spec.when?.actor),
        constraints,
        onViolation: spec.on_violation ?? "deny",
        tightenOnly:
          spec.decision === "ask" &&
          (spec.when?.tainted === true || (spec.when?.labels !== undefined && spec.when.labels.every((l) => l.normalize("NFKC").trim().toLowerCase().startsWith("untrusted:")))),
        spec,
      };
    } catch (err) {
      throw new RuleCompileError(index, `rule "${id}" (line ${line}): ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

/** What the engine needs to know about an action. */
export interface PolicyRequest {
  readonly tool: string;
  readonly scopes: readonly Scope[];
  /** Other names for the same resources: deny and ask rules on them apply; they need no allow. */
  readonly aliases?: readonly Scope[] | undefined;
  readonly args: Readonly<Record<string, unknown>>;
  readonly skill?: string | undefined;
  readonly labels: readonly Label[];
  /** Who proposed it, as the adapter (never the model) reports: `owner`, `model:<name>`, … */
  readonly actor?: string | undefined;
  readonly argRoles?: ArgRoles | undefined;
  readonly cwd?: string | undefined;
}

export interface DecideContext {
  readonly now?: Date;
  readonly rateCounter?: RateCounter;
}

export interface RuleRef {
  readonly id: string;
  readonly line: number;
  readonly reason: string;
}

export interface ScopeDecision {
  readonly scope: string;
  readonly decision: DecisionKind;
  readonly rule: RuleRef | undefined;
  readonly reason: string;
  readonly violations: readonly string[];
  readonly satisfied: readonly string[];
}

export interface Decision {
  readonly decision: DecisionKind;
  readonly reason: string;
  /** The rule that produced the decision (undefined: no rule matched → default deny). */
  readonly rule: RuleRef | undefined;
  readonly scopes: readonly ScopeDecision[];
  /** Rate-limit keys to record if the action runs. */
  readonly rateKeys: readonly string[];
}

export interface RuleTrace {
  readonly rule: RuleRef & { readonly decision: DecisionKind };
  readonly scope: string;
  readonly matched: boolean;
  /** Why it did not match, or what it decided when it did. */
  readonly note: string;
}

const RANK: Record<DecisionKind, number> = { allow: 0, ask: 1, deny: 2 };

function ref(r: CompiledRule): RuleRef {
  return { id: r.id, line: r.line, reason: r.reason };
}

const CANDIDATE_CACHE_LIMIT = 4096;

export class Policy {
  readonly rules: readonly CompiledRule[];
  readonly source: string;
  /** policy.yaml `secrets:`: secret name → the skills the broker may issue it to. */
  readonly secretGrants: ReadonlyMap<string, readonly string[]>;
  readonly #defaultCounter = new MemoryRateCounter();
  /** Rules whose every scope pattern names one scope exactly, by that name. */
  readonly #byName = new Map<string, CompiledRule[]>();
  /** Rules that can match any scope name (tool-only rules, globbed names). */
  readonly #general: CompiledRule[] = [];
  /** Per scope name: the rules that could match it, in file order. An index, not a semantic: explain walks every rule. */
  readonly #candidates = new Map<string, readonly CompiledRule[]>();

  constructor(rules: readonly CompiledRule[], source: string, secretGrants: Readonly<Record<string, readonly string[]>> = {}) {
    this.rules = rules;
    this.source = source;
    this.secretGrants = new Map(Object.entries(secretGrants).map(([name, skills]) => [name, [...new Set(skills.map((skill) => fold(skill)))]]));
    for (const rule of rules) {
      const names = rule.scopes?.map((p) => p.literalName);
      if (!names || names.some((n) => n === undefined)) {
        this.#general.push(rule);
        continue;
      }
      for (const name of new Set(names as string[])) {
        const list = this.#byName.get(name) ?? [];
        list.push(rule);
        this.#byName.set(name, list);
      }
    }
  }

  /** Whether policy lets the secret broker hand secret `name` to `skill` (skill names compare like in rules: NFKC, case-folded). */
  secretGrantedTo(name: string, skill: string): boolean {
    return this.secretGrants.get(name)?.includes(fold(skill)) ?? false;
  }

  #candidatesFor(name: string): readonly CompiledRule[] {
    const cached = this.#candidates.get(name);
    if (cached) return cached;
    const merged = [...(this.#byName.get(name) ?? []), ...this.#general].sort((a, b) => a.index - b.index);
    if (this.#candidates.size >= CANDIDATE_CACHE_LIMIT) this.#candidates.clear();
    this.#candidates.set(name, merged);
    return merged;
  }

  /** The hot path: does `rule` fit? No strings are built here. */
  #fits(rule: CompiledRule, req: PolicyRequest, scope: Scope, tainted: boolean, folded: string | undefined): boolean {
    if (rule.tool && !rule.tool(req.tool)) return false;
    if (rule.skill && (req.skill === undefined || !rule.skill(req.skill))) return false;
    if (rule.scopes) {
      const mode = rule.decision === "allow" ? "exact" : "folded";
      let any = false;
      for (const p of rule.scopes) {
        if (p.matches(scope, mode, folded)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    if (rule.tainted !== undefined && tainted !== rule.tainted) return false;
    if (rule.labels && !req.labels.some((l) => rule.labels?.some((m) => m(l)))) return false;
    if (rule.actor && !rule.actor(req.actor ?? "")) return false;
    return true;
  }

  /** Why `rule` does not fit `scope` in this request, or undefined when it does. */
  #mismatch(rule: CompiledRule, req: PolicyRequest, scope: Scope): string | undefined {
    if (rule.tool && !rule.tool(req.tool)) return `tool ${req.tool} does not match ${rule.spec.match.tool?.join(", ") ?? ""}`;
    if (rule.skill && (req.skill === undefined || !rule.skill(req.skill))) return `skill ${req.skill ?? "(none)"} does not match ${rule.spec.match.skill?.join(", ") ?? ""}`;
    if (rule.scopes) {
      // Permissive rules match exactly; restrictive ones after case/Unicode folding (see pattern.ts).
      const mode = rule.decision === "allow" ? "exact" : "folded";
      if (!rule.scopes.some((p) => p.matches(scope, mode))) return `scope ${scope.text} does not match ${rule.spec.match.scope?.join(", ") ?? ""}`;
    }
    if (rule.tainted !== undefined && isTainted(req.labels) !== rule.tainted) return rule.tainted ? "context is not tainted" : "context is tainted";
    if (rule.labels && !req.labels.some((l) => rule.labels?.some((m) => m(l)))) return `no label matches ${rule.spec.when?.labels?.join(", ") ?? ""}`;
    if (rule.actor && !rule.actor(req.actor ?? "")) return `actor ${req.actor ?? "(none)"} does not match ${rule.spec.when?.actor?.join(", ") ?? ""}`;
    return undefined;
  }

  #decideScope(req: PolicyRequest, scope: Scope, ctx: Required<DecideContext>, trace: RuleTrace[] | undefined, rateKeys: string[]): ScopeDecision {
    // Every rule that reached the strictest decision is named, so the person approving sees all the reasons.
    let deciders: { decision: DecisionKind; rule: CompiledRule; violations: readonly string[]; satisfied: readonly string[] }[] = [];
    let covered = false;
    const tainted = isTainted(req.labels);
    const folded = scope.resource === undefined ? undefined : fold(scope.resource);
    // Decisions use the name index; explain walks every rule so its trace is complete.
    for (const rule of trace ? this.rules : this.#candidatesFor(scope.name)) {
      if (!this.#fits(rule, req, scope, tainted, folded)) {
        if (trace) trace.push({ rule: { ...ref(rule), decision: rule.decision }, scope: scope.text, matched: false, note: this.#mismatch(rule, req, scope) ?? "does not match" });
        continue;
      }
      if (!rule.tightenOnly) covered = true;
      let decision: DecisionKind = rule.decision;
      let violations: readonly string[] = [];
      let satisfied: readonly string[] = [];
      if (rule.constraints) {
        const rateKey = `${rule.id}|${req.skill ?? "-"}`;
        const result = checkConstraints(rule.constraints, {
          args: req.args,
          roles: req.argRoles ?? DEFAULT_ARG_ROLES,
          now: ctx.now,
          rateCounter: ctx.rateCounter,
          rateKey,
          ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
        });
        violations = result.violations;
        satisfied = result.satisfied;
        if (result.unparseable) decision = "deny";
        else if (!result.ok) decision = rule.onViolation;
        else if (rule.constraints.spec.rate_limit && !rateKeys.includes(rateKey)) rateKeys.push(rateKey);
      }
      trace?.push({
        rule: { ...ref(rule), decision: rule.decision },
        scope: scope.text,
        matched: true,
        note:
          violations.length > 0
            ? `${decision} (constraint violated: ${violations.join("; ")})`
            : `${decision}${satisfied.length > 0 ? ` (${satisfied.join("; ")})` : ""}${rule.tightenOnly ? " (tightens only: it cannot cover a scope no other rule covers)" : ""}`,
      });
      const top = deciders[0];
      if (!top || RANK[decision] > RANK[top.decision]) deciders = [{ decision, rule, violations, satisfied }];
      else if (RANK[decision] === RANK[top.decision]) deciders.push({ decision, rule, violations, satisfied });
    }
    const best = deciders[0];
    if (!best || !covered) {
      return { scope: scope.text, decision: "deny", rule: undefined, reason: `no rule allows ${scope.text} (default deny)`, violations: [], satisfied: [] };
    }
    const explainOne = (d: (typeof deciders)[number]): string =>
      d.violations.length > 0 ? `${d.rule.reason} (${d.violations.join("; ")})` : d.satisfied.length > 0 && d.decision === "allow" ? `${d.rule.reason} (${d.satisfied.join("; ")})` : d.rule.reason;
    const reason = deciders.map((d, i) => (i === 0 ? explainOne(d) : `also ${d.rule.id}: ${explainOne(d)}`)).join(" — ");
    return {
      scope: scope.text,
      decision: best.decision,
      rule: ref(best.rule),
      reason,
      violations: deciders.flatMap((d) => d.violations),
      satisfied: best.satisfied,
    };
  }

  #run(raw: PolicyRequest, ctx: DecideContext, trace: RuleTrace[] | undefined): Decision {
    const full: Required<DecideContext> = { now: ctx.now ?? new Date(), rateCounter: ctx.rateCounter ?? this.#defaultCounter };
    // Inputs from adapters are normalised here, once, so every caller (envelope, CLI, tests) is judged alike.
    const req: PolicyRequest = { ...raw, labels: raw.labels.map(normaliseLabel), skill: raw.skill === undefined ? undefined : fold(raw.skill) };
    if (req.scopes.length === 0) {
      return { decision: "deny", reason: `tool ${req.tool} declared no scopes for this call (default deny)`, rule: undefined, scopes: [], rateKeys: [] };
    }
    const rateKeys: string[] = [];
    const scopes = req.scopes.map((s) => this.#decideScope(req, s, full, trace, rateKeys));
    for (const alias of req.aliases ?? []) {
      // An alias only tightens: a rule that denies or asks on it counts; no rule, or an allow, changes nothing.
      const d = this.#decideScope(req, alias, full, trace, []);
      if (d.rule !== undefined && d.decision !== "allow") scopes.push(d);
    }
    let worst = scopes[0];
    for (const s of scopes) if (worst && RANK[s.decision] > RANK[worst.decision]) worst = s;
    if (!worst) throw new Error("unreachable: no scope decisions");
    return { decision: worst.decision, reason: worst.reason, rule: worst.rule, scopes, rateKeys: worst.decision === "allow" ? rateKeys : [] };
  }

  decide(req: PolicyRequest, ctx: DecideContext = {}): Decision {
    return this.#run(req, ctx, undefined);
  }

  /** The decision plus a trace of every rule against every scope. */
  explain(req: PolicyRequest, ctx: DecideContext = {}): { decision: Decision; trace: RuleTrace[] } {
    const trace: RuleTrace[] = [];
    const decision = this.#run(req, ctx, trace);
    return { decision, trace };
  }
}
