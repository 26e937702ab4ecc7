/** The policy file's schema (`policy.yaml`). Parsed with zod at the edge; the engine trusts the result. */
import { z } from "zod";
import { ConstraintsSchema } from "./constraints.ts";

export const POLICY_VERSION = 1;

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

export const DecisionKindSchema = z.enum(["allow", "deny", "ask"]);
export type DecisionKind = z.infer<typeof DecisionKindSchema>;

export const RuleSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "use letters, digits, dot, dash, underscore").optional(),
    match: z
      .object({ tool: oneOrMany.optional(), scope: oneOrMany.optional(), skill: oneOrMany.optional() })
      .strict()
      .refine((m) => m.tool !== undefined || m.scope !== undefined, { message: "a rule must match on at least a tool or a scope" }),
    when: z
      .object({
        tainted: z.boolean().optional(),
        labels: z.array(z.string().min(1)).min(1).optional().describe("matches when the context carries any of these labels (globs)"),
        actor: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe("matches when the action was proposed by one of these actors (globs): owner (the owner at the terminal), model:* (an agent), …"),
      })
      .strict()
      .optional(),
    decision: DecisionKindSchema,
    constraints: ConstraintsSchema.optional(),
    on_violation: z.enum(["ask", "deny"]).optional(),
    reason: z.string().min(1, "say why this rule exists; it is shown to the person approving"),
  })
  .strict()
  .refine((r) => r.constraints === undefined || r.decision === "allow", { message: "constraints only apply to allow rules", path: ["constraints"] })
  .refine((r) => r.on_violation === undefined || r.constraints !== undefined, { message: "on_violation needs constraints", path: ["on_violation"] });
export type RuleSpec = z.infer<typeof RuleSchema>;

/** The skill names a secret may be issued to. */
export const SecretGrantsSchema = z
  .record(
    z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, "secret names are upper-case letters, digits and _ (e.g. GITHUB_TOKEN)"),
    z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a skill name: letters, digits, '.', '_', '-'")),
  )
  .describe("which skills the secret broker may hand each secret to: NAME: [skill, …]; a secret not listed goes to no skill");

export const PolicyFileSchema = z
  .object({
    version: z.literal(POLICY_VERSION, { error: `this AegisClaw understands policy version ${POLICY_VERSION}` }),
    rules: z.array(RuleSchema),
    secrets: SecretGrantsSchema.optional(),
  })
  .strict();
export type PolicyFile = z.infer<typeof PolicyFileSchema>;
