/**
 * The policy.yaml text that would grant a skill exactly what it declares: one
 * allow rule matching `skill: NAME` and exactly its scopes, and `secrets:`
 * lines for the secrets it declares. It is printed for the owner to review
 * and paste; AegisClaw never writes policy on a skill's behalf (a skill
 * asking for permissions is untrusted input, and policy changes belong to
 * the owner).
 */
import type { LoadedSkill } from "./catalog.ts";

/** A YAML double-quoted scalar (JSON strings are valid YAML). */
function q(text: string): string {
  return JSON.stringify(text);
}

function comment(text: string): string {
  // Text from the skill stays inside the comment: no line breaks, no control characters.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ");
}

export function policySnippet(skill: LoadedSkill, policyFile = "policy.yaml"): string {
  const { name, grant } = skill;
  const out: string[] = [
    `# Skill ${name}: what its SKILL.md declares, as policy.`,
    `#   from ${comment(skill.file)} (sha256 ${skill.digest.slice(0, 16)}…)`,
    `# Review it, then paste the rule under \`rules:\` and the lines under \`secrets:\` in ${comment(policyFile)}.`,
    "# AegisClaw wrote nothing. Deny beats ask beats allow: a rule that asks for the same scope",
    "# (the default policy asks before an agent runs a command or reaches a host) still asks.",
  ];
  if (skill.grant.risk === "high") out.push("# The skill calls itself high risk: consider `decision: ask` instead of allow.");
  for (const w of grant.warnings) out.push(`# WARNING: ${comment(w)}`);
  if (grant.tools !== undefined) {
    out.push(`# allowed-tools (${grant.tools.length === 0 ? "none" : grant.tools.map(comment).join(", ")}): the agent runtime limits the skill to these tools; policy rules need nothing for it.`);
  }
  if (grant.scopes.length === 0) {
    out.push("# The skill declares no scopes, so it needs no rule.");
  } else {
    out.push(
      "rules:",
      `  - id: ${q(`skill-${name}`)}`,
      "    match:",
      `      skill: ${q(name)}`,
      "      scope:",
      ...grant.scopes.map((s) => `        - ${q(s)}`),
      "    decision: allow",
      `    reason: ${q(`Skill ${name} declares these in its SKILL.md; reviewed and allowed by the owner.`)}`,
    );
  }
  if (grant.secrets.length > 0) {
    out.push("secrets:", `  # A secret already listed there: add ${name} to its list instead.`);
    for (const s of grant.secrets) out.push(`  ${s.name}: [${q(name)}]${s.delivery === "file" ? "  # delivered as a file ($" + s.name + "_FILE)" : ""}`);
  }
  return `${out.join("\n")}\n`;
}
