/** `aegisclaw policy check|explain|test|lint`: ask the policy what it would do, and why. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import type { Command } from "commander";
import { z } from "zod";
import { AegisError, EXIT } from "../errors.ts";
import { openProfile } from "../config/profile.ts";
import { profilePaths } from "../config/paths.ts";
import { formatProblems, parseYamlWith } from "../config/yaml.ts";
import { loadPolicyFile } from "../policy/load.ts";
import type { Decision, Policy, PolicyRequest, PolicyVariables } from "../policy/engine.ts";
import { parseLabel, type Label } from "../policy/labels.ts";
import { parseScope } from "../policy/scope.ts";
import { MemoryRateCounter } from "../policy/constraints.ts";
import { BUILTIN_TOOLS } from "../tools/index.ts";
import { prepare } from "../envelope/judge.ts";
import type { Cli } from "./program.ts";
import { decisionBadge, printJson, println, style } from "./output.ts";

interface PolicySource {
  readonly policy: Policy;
  readonly vars: PolicyVariables;
  readonly workspace: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function loadSource(cli: Cli, cmd: Command, opts: { policy?: string; var?: string[] }): PolicySource {
  const home = cli.home(cmd);
  const vars: Record<string, string> = { home: homedir() };
  let policyFile = opts.policy;
  let workspace = process.cwd();
  if (existsSync(profilePaths(home).config)) {
    const profile = openProfile(home);
    Object.assign(vars, profile.policyVars);
    workspace = profile.workspace;
    policyFile ??= profile.paths.policy;
  } else if (policyFile === undefined) {
    throw new AegisError("PROFILE_MISSING", `No profile at ${profilePaths(home).home} and no --policy FILE given. Run \`aegisclaw init\` or pass --policy.`);
  }
  for (const kv of opts.var ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new AegisError("USAGE", `--var ${kv}: use NAME=VALUE`, { exitCode: EXIT.usage });
    vars[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (!Object.hasOwn(vars, "workspace")) vars.workspace = workspace;
  if (!Object.hasOwn(vars, "profile")) vars.profile = profilePaths(home).home;
  return { policy: loadPolicyFile(policyFile, vars), vars, workspace: vars.workspace ?? workspace };
}

/** `k=v` sets a string; `k:=json` sets any JSON value (lists of recipients, numbers). Repeating a key makes a list. */
export function parseArgPairs(pairs: readonly string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const pair of pairs) {
    const json = /^([^=:]+):=(.*)$/s.exec(pair);
    const plain = /^([^=]+)=(.*)$/s.exec(pair);
    let key: string;
    let value: unknown;
    if (json?.[1] !== undefined) {
      key = json[1];
      try {
        value = JSON.parse(json[2] ?? "");
      } catch {
        throw new AegisError("USAGE", `--arg ${pair}: the value after := must be JSON`, { exitCode: EXIT.usage });
      }
    } else if (plain?.[1] !== undefined) {
      key = plain[1];
      value = plain[2];
    } else {
      throw new AegisError("USAGE", `--arg ${pair}: use key=value or key:=<json>`, { exitCode: EXIT.usage });
    }
    const existing = args[key];
    args[key] = existing === undefined ? value : Array.isArray(existing) ? [...(existing as unknown[]), value] : [existing, value];
  }
  return args;
}

export interface CaseAction {
  readonly tool: string;
  readonly scopes?: readonly string[] | undefined;
  readonly args?: Readonly<Record<string, unknown>> | undefined;
  readonly labels?: readonly string[] | undefined;
  readonly skill?: string | undefined;
  /** Who proposes it: `owner` (the owner at the terminal) or an agent, `model:<name>` (the default). */
  readonly actor?: string | undefined;
}

/** The actor a described action has when none is given: an agent, since that is what policy mostly guards against. */
export const DEFAULT_CHECK_ACTOR = "model:policy-check";

/** Turns a described action into a policy request: scopes as given, or computed by the built-in tool from its arguments. */
export function buildRequest(a: CaseAction, workspace: string): PolicyRequest {
  const labels: Label[] = (a.labels ?? []).map((l) => {
    const parsed = parseLabel(l);
    if (!parsed) throw new AegisError("USAGE", `label "${l}": use trusted:owner, trusted:system or untrusted:<source>`, { exitCode: EXIT.usage });
    return parsed;
  });
  const args = a.args ?? {};
  if (!a.scopes || a.scopes.length === 0) {
    // The same preparation the envelope does before it asks the policy: parse, canonicalise, compute scopes.
    if (!BUILTIN_TOOLS.some((t) => t.name === a.tool)) throw new AegisError("USAGE", `${a.tool} is not a built-in tool (${BUILTIN_TOOLS.map((t) => t.name).join(", ")}); give its scopes with --scope`, { exitCode: EXIT.usage });
    const prepared = prepare(new Map(BUILTIN_TOOLS.map((t) => [t.name, t])), { tool: a.tool, args, session: "policy-check", actor: a.actor ?? DEFAULT_CHECK_ACTOR, labels, ...(a.skill !== undefined ? { skill: a.skill } : {}) }, { id: "policy-check", workspace });
    if (!prepared.request) throw new AegisError("ARGS_INVALID", `${prepared.failure ?? "cannot be judged"} (the envelope would deny this call)`);
    return prepared.request;
  }
  const tool = BUILTIN_TOOLS.find((t) => t.name === a.tool);
  const scopes = a.scopes.map((s) => {
    try {
      return parseScope(s, { cwd: workspace });
    } catch (err) {
      throw new AegisError("USAGE", `scope "${s}": ${err instanceof Error ? err.message : String(err)}`, { exitCode: EXIT.usage });
    }
  });
  return { tool: a.tool, scopes, args, skill: a.skill, labels, actor: a.actor ?? DEFAULT_CHECK_ACTOR, argRoles: tool?.argRoles, cwd: workspace };
}

function exitFor(decision: Decision["decision"]): number {
  return decision === "allow" ? EXIT.ok : decision === "ask" ? EXIT.ask : EXIT.deny;
}

function describeDecision(d: Decision, policyFile: string): string {
  const lines = [`${decisionBadge(d.decision)}  ${d.reason}`];
  lines.push(d.rule ? `  rule:   ${d.rule.id} (${policyFile}:${d.rule.line})` : "  rule:   none matched (default deny)");
  for (const s of d.scopes) lines.push(`  scope:  ${s.scope} → ${s.decision}${s.rule ? ` by ${s.rule.id}` : ""}`);
  return lines.join("\n");
}

interface RequestOpts {
  tool: string;
  scope?: string[];
  arg?: string[];
  label?: string[];
  skill?: string;
  actor?: string;
  policy?: string;
  var?: string[];
  json?: boolean;
}

function addRequestOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--tool <name>", "tool name, e.g. files.read, email.send, shell.exec")
    .option("--scope <scope>", "scope the call needs (repeatable); default: computed by the built-in tool from --arg", collect)
    .option("--arg <key=value>", "argument (repeatable; key:=<json> for JSON values)", collect)
    .option("--label <label>", "provenance label of the context (repeatable), e.g. untrusted:email", collect)
    .option("--skill <name>", "the skill proposing the call")
    .option("--actor <who>", `who proposes it: owner (you, at the terminal) or an agent such as model:claude (default ${DEFAULT_CHECK_ACTOR})`)
    .option("--policy <file>", "policy file (default: the profile's policy.yaml)")
    .option("--var <name=value>", "policy variable (repeatable), e.g. workspace=/srv/agent", collect)
    .option("--json", "print JSON");
}

export function registerPolicy(program: Command, cli: Cli): void {
  const policy = program.command("policy").description("ask the policy what it would do, and why");

  addRequestOptions(policy.command("check").description("decide one action; exit 0 allow, 3 ask, 4 deny")).action(
    cli.action(async (opts: RequestOpts, cmd: Command) => {
      const src = loadSource(cli, cmd, opts);
      const req = buildRequest({ tool: opts.tool, scopes: opts.scope, args: parseArgPairs(opts.arg ?? []), labels: opts.label, skill: opts.skill, actor: opts.actor }, src.workspace);
      const d = src.policy.decide(req);
      if (opts.json) printJson({ tool: req.tool, requiredScopes: req.scopes.map((s) => s.text), ...d });
      else println(describeDecision(d, src.policy.source));
      return Promise.resolve(exitFor(d.decision));
    }),
  );

  addRequestOptions(policy.command("explain").description("show every rule considered for an action and why it did or did not match")).action(
    cli.action(async (opts: RequestOpts, cmd: Command) => {
      const src = loadSource(cli, cmd, opts);
      const req = buildRequest({ tool: opts.tool, scopes: opts.scope, args: parseArgPairs(opts.arg ?? []), labels: opts.label, skill: opts.skill, actor: opts.actor }, src.workspace);
      const { decision, trace } = src.policy.explain(req);
      if (opts.json) {
        printJson({ tool: req.tool, scopes: req.scopes.map((s) => s.text), decision, trace });
        return Promise.resolve(exitFor(decision.decision));
      }
      println(`${style.bold(req.tool)}  scopes: ${req.scopes.map((s) => s.text).join(", ") || "(none)"}  labels: ${req.labels.join(", ") || "(none)"}`);
      for (const scope of req.scopes) {
        println();
        println(style.bold(`  ${scope.text}`));
        for (const t of trace.filter((x) => x.scope === scope.text)) {
          const mark = t.matched ? style.green("✓") : style.dim("·");
          println(`    ${mark} ${t.rule.id.padEnd(28)} ${style.dim(`line ${t.rule.line}`)}  ${t.matched ? t.note : style.dim(t.note)}`);
        }
      }
      println();
      println(describeDecision(decision, src.policy.source));
      return Promise.resolve(exitFor(decision.decision));
    }),
  );

  policy
    .command("test")
    .description("run a YAML file of cases {name, action, expect} against the policy; exit 1 if any fails")
    .argument("<file>", "cases file")
    .option("--policy <file>", "policy file (default: the profile's policy.yaml)")
    .option("--var <name=value>", "policy variable (repeatable)", collect)
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Cases file:
  cases:
    - name: tainted mail to a stranger asks
      action: { tool: email.send, args: { to: x@evil.example, subject: hi, body: hi }, labels: [untrusted:email] }
      expect: ask                 # or { decision: ask, rule: tainted-outbound-asks }`,
    )
    .action(
      cli.action(async (file: string, opts: { policy?: string; var?: string[]; json?: boolean }, cmd: Command) => {
        const src = loadSource(cli, cmd, opts);
        const results = runPolicyCases(src, readCasesFile(file));
        const failed = results.filter((r) => !r.pass);
        if (opts.json) printJson({ ok: failed.length === 0, passed: results.length - failed.length, failed: failed.length, results });
        else {
          for (const r of results) println(`${r.pass ? style.green("pass") : style.red("FAIL")}  ${r.name}${r.pass ? "" : `\n      expected ${r.expected}, got ${r.actual}: ${r.reason}`}`);
          println();
          println(`${results.length - failed.length} passed, ${failed.length} failed`);
        }
        return Promise.resolve(failed.length === 0 ? EXIT.ok : EXIT.error);
      }),
    );

  policy
    .command("lint")
    .description("validate the policy file and warn about rules that are risky or can never apply")
    .option("--policy <file>", "policy file (default: the profile's policy.yaml)")
    .option("--var <name=value>", "policy variable (repeatable)", collect)
    .option("--json", "print JSON")
    .action(
      cli.action(async (opts: { policy?: string; var?: string[]; json?: boolean }, cmd: Command) => {
        const src = loadSource(cli, cmd, opts);
        const warnings = lintPolicy(src.policy);
        if (opts.json) printJson({ ok: true, file: src.policy.source, rules: src.policy.rules.length, warnings });
        else {
          println(`${style.green("valid")}  ${src.policy.source}: ${src.policy.rules.length} rules`);
          for (const w of warnings) println(`${style.yellow("warn")}   ${src.policy.source}:${w.line}: ${w.rule}: ${w.message}`);
        }
        return Promise.resolve(EXIT.ok);
      }),
    );
}

const CaseSchema = z
  .object({
    name: z.string().min(1),
    action: z
      .object({
        tool: z.string().min(1),
        scopes: z.array(z.string()).optional(),
        args: z.record(z.string(), z.unknown()).optional(),
        labels: z.array(z.string()).optional(),
        skill: z.string().optional(),
        actor: z.string().optional(),
      })
      .strict(),
    expect: z.union([z.enum(["allow", "deny", "ask"]), z.object({ decision: z.enum(["allow", "deny", "ask"]), rule: z.string().optional() }).strict()]),
  })
  .strict();
const CasesFileSchema = z.object({ cases: z.array(CaseSchema).min(1) }).strict();
type PolicyCase = z.infer<typeof CaseSchema>;

export function readCasesFile(file: string): PolicyCase[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new AegisError("USAGE", `Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { exitCode: EXIT.usage });
  }
  const parsed = parseYamlWith(text, CasesFileSchema);
  if (!parsed.ok) throw new AegisError("POLICY_INVALID", `${file} is not a valid cases file:\n${formatProblems(file, parsed.problems)}`);
  return parsed.data.cases;
}

export interface CaseResult {
  readonly name: string;
  readonly pass: boolean;
  readonly expected: string;
  readonly actual: string;
  readonly reason: string;
}

export function runPolicyCases(src: PolicySource, cases: readonly PolicyCase[]): CaseResult[] {
  return cases.map((c) => {
    const expect = typeof c.expect === "string" ? { decision: c.expect, rule: undefined } : c.expect;
    const expected = `${expect.decision}${expect.rule ? ` by ${expect.rule}` : ""}`;
    try {
      // Each case gets a fresh rate counter so cases do not influence each other.
      const d = src.policy.decide(buildRequest(c.action, src.workspace), { rateCounter: new MemoryRateCounter() });
      const pass = d.decision === expect.decision && (expect.rule === undefined || d.rule?.id === expect.rule);
      return { name: c.name, pass, expected, actual: `${d.decision}${d.rule ? ` by ${d.rule.id}` : ""}`, reason: d.reason };
    } catch (err) {
      return { name: c.name, pass: false, expected, actual: "error", reason: err instanceof Error ? err.message : String(err) };
    }
  });
}

export interface LintWarning {
  readonly rule: string;
  readonly line: number;
  readonly message: string;
}

export function lintPolicy(policy: Policy): LintWarning[] {
  const warnings: LintWarning[] = [];
  for (const r of policy.rules) {
    const scopes = r.spec.match.scope ?? [];
    if (r.decision === "allow" && (scopes.some((s) => /^\*\*?(:|$)/.test(s)) || (scopes.length === 0 && r.spec.match.tool?.some((t) => t.includes("*"))))) {
      warnings.push({ rule: r.id, line: r.line, message: "allows every scope: this turns default-deny off" });
    }
    if (r.decision === "allow" && scopes.some((s) => /^(shell\.exec|payments\.[^:]*)$/.test(s)) && !r.constraints) {
      warnings.push({ rule: r.id, line: r.line, message: "allows a high-risk scope without constraints or approval" });
    }
    if (r.decision === "allow" && scopes.some((s) => /^files\.[^:]*$/.test(s))) {
      warnings.push({ rule: r.id, line: r.line, message: "allows file access without a path: add :<path>/** to the scope" });
    }
    if (r.decision === "allow" && r.tainted === undefined && scopes.some((s) => /^(email\.send|messages\.send|net\.|payments\.|shell\.exec)/.test(s))) {
      const guarded = policy.rules.some((o) => o.tainted === true && o.decision !== "allow");
      if (!guarded) warnings.push({ rule: r.id, line: r.line, message: "allows an outbound action and no rule asks or denies when the context is tainted" });
    }
  }
  return warnings;
}
