/**
 * skills.load: gives the model a skill's instructions (the SKILL.md body) when
 * it asks for them. Only a loaded, active skill that allows model invocation;
 * the body is re-read and checked against the digest taken at load time, so a
 * SKILL.md changed since the catalog was read is refused, not served.
 */
import { z } from "zod";
import { defineTool, type AnyTool } from "../envelope/tool.ts";
import type { SkillCatalog } from "../skills/index.ts";

const LoadArgs = z.object({ name: z.string().min(1).max(64).regex(/^[^\s:]+$/, "a skill name") }).strict();

export function createSkillLoadTool(catalog: SkillCatalog): AnyTool {
  return defineTool<z.infer<typeof LoadArgs>>({
    name: "skills.load",
    description: "Load a skill's instructions.",
    risk: "low",
    args: LoadArgs,
    spawnsProcess: false,
    scopes(args) {
      return [`skills.load:${args.name.normalize("NFKC").toLowerCase()}`];
    },
    run(args) {
      const skill = catalog.get(args.name);
      if (skill === undefined) return Promise.reject(new Error(`no skill named ${args.name} is installed (aegisclaw skills list)`));
      if (skill.status.state === "inactive") return Promise.reject(new Error(`skill ${skill.name} is not active: ${skill.status.reasons.map((r) => r.message).join("; ")}`));
      if (skill.disableModelInvocation) return Promise.reject(new Error(`skill ${skill.name} sets disable-model-invocation: only the owner can invoke it`));
      const tools = skill.grant.tools === undefined ? "" : `\n\n(allowed tools for this skill: ${skill.grant.tools.join(", ")})`;
      return Promise.resolve({ text: `# Skill: ${skill.name}\n\n${skill.body()}${tools}`, details: { skill: skill.name, digest: skill.digest } });
    },
  });
}
