/**
 * Reading policy.yaml: YAML → zod → compiled rules, with every error pointing
 * at the file, line and field so the user can fix it. An invalid policy never
 * loads; there is no "best effort" policy.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../errors.ts";
import { formatProblems, parseYamlWith, type YamlProblem } from "../config/yaml.ts";
import { compileConstraints } from "./constraints.ts";
import { compileRules, Policy, RuleCompileError, type PolicyVariables } from "./engine.ts";
import { PolicyFileSchema } from "./schema.ts";

function invalid(file: string, problems: readonly YamlProblem[]): AegisError {
  return new AegisError(
    "POLICY_INVALID",
    `${file} is invalid; AegisClaw will not run with a policy it cannot read:\n${formatProblems(file, problems)}\nFix the lines above, then check with \`aegisclaw policy lint\`.`,
    { details: { file, problems } },
  );
}

/** Parses policy text; on failure throws POLICY_INVALID listing every problem with its line. */
export function parsePolicy(text: string, options: { file?: string; vars?: PolicyVariables } = {}): Policy {
  const file = options.file ?? "policy.yaml";
  const parsed = parseYamlWith(text, PolicyFileSchema);
  if (!parsed.ok) throw invalid(file, parsed.problems);
  try {
    const rules = compileRules(parsed.data.rules, options.vars ?? {}, (i) => parsed.lineOf(["rules", i]), compileConstraints);
    return new Policy(rules, file, parsed.data.secrets ?? {});
  } catch (err) {
    if (!(err instanceof RuleCompileError)) throw err;
    throw invalid(file, [{ line: parsed.lineOf(["rules", err.ruleIndex]), path: `rules[${err.ruleIndex}]`, message: err.message }]);
  }
}

export function loadPolicyFile(path: string, vars: PolicyVariables): Policy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new AegisError("POLICY_INVALID", `Cannot read the policy ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Run \`aegisclaw init\` to create the default policy.`, { cause: err });
  }
  return parsePolicy(text, { file: path, vars });
}
