/**
 * `aegisclaw skills list|permissions`: which OpenClaw skills are installed,
 * which copy of each name wins, why a skill is inactive, and what it would be
 * granted — as scopes, and as a policy.yaml snippet for the owner to review.
 * Nothing here runs an install step or writes policy.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";

import { AegisError, EXIT } from "../errors.ts";
import { expandHome } from "../config/paths.ts";
import { openProfile, type Profile } from "../config/profile.ts";
import { loadSkillCatalog, type LoadedSkill, type SkillCatalog } from "../skills/catalog.ts";
import { policySnippet } from "../skills/policy-snippet.ts";
import { readSecretNamesWithoutPrompt } from "../skills/secret-names.ts";
import type { SkillInstallSpec } from "../skills/skill-md.ts";
import type { Cli } from "./program.ts";
import { printJson, printable, println, style, table } from "./output.ts";

/** The skills folder shipped with AegisClaw (two levels up from both src/cli and dist/cli); it may not exist. */
export const BUNDLED_SKILLS_DIR = fileURLToPath(new URL("../../skills/", import.meta.url));

async function openCatalog(cli: Cli, cmd: Command, workspaceOption: string | undefined): Promise<{ profile: Profile; catalog: SkillCatalog }> {
  const profile = openProfile(cli.home(cmd));
  let workspace = profile.workspace;
  if (workspaceOption !== undefined) {
    workspace = resolve(expandHome(workspaceOption));
    let isDir = false;
    try {
      isDir = statSync(workspace).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new AegisError("USAGE", `--workspace ${printable(workspaceOption)}: no such directory.`, { exitCode: EXIT.usage });
  }
  const secrets = await readSecretNamesWithoutPrompt(profile.paths);
  const catalog = loadSkillCatalog({ workspace, profileHome: profile.paths.home, bundledDir: BUNDLED_SKILLS_DIR, env: process.env, platform: process.platform, secrets });
  return { profile, catalog };
}

function skillJson(skill: LoadedSkill): Record<string, unknown> {
  return {
    name: skill.name,
    tier: skill.tier,
    dir: skill.dir,
    file: skill.file,
    digest: skill.digest,
    description: skill.description,
    emoji: skill.emoji ?? null,
    homepage: skill.homepage ?? null,
    userInvocable: skill.userInvocable,
    disableModelInvocation: skill.disableModelInvocation,
    always: skill.always,
    os: skill.os,
    primaryEnv: skill.primaryEnv ?? null,
    skillKey: skill.skillKey ?? null,
    metadataKey: skill.metadataKey ?? null,
    state: skill.status.state,
    active: skill.status.active,
    reasons: skill.status.reasons,
    shadows: skill.shadows,
    requires: skill.requires,
    grant: { ...skill.grant, tools: skill.grant.tools ?? null, risk: skill.grant.risk ?? null },
    install: skill.install.map((spec) => ({ ...spec, run: false })),
    warnings: skill.warnings,
  };
}

/** Multi-line text from skills, each line made safe for a terminal. */
function printableLines(text: string, indent: string): string {
  return text
    .split("\n")
    .map((line) => `${indent}${printable(line)}`)
    .join("\n");
}

function stateBadge(state: LoadedSkill["status"]["state"]): string {
  return state === "active" ? style.green("active") : state === "unknown" ? style.yellow("unknown") : style.red("inactive");
}

function installText(spec: SkillInstallSpec): string {
  const what = spec.formula ?? spec.package ?? spec.module ?? spec.url ?? "?";
  const parts = [`${spec.kind} ${what}`];
  if (spec.bins.length > 0) parts.push(`provides ${spec.bins.join(", ")}`);
  if (spec.os.length > 0) parts.push(`on ${spec.os.join(", ")}`);
  if (spec.label !== undefined) parts.push(JSON.stringify(spec.label));
  return printable(parts.join(" — "));
}

export function registerSkills(program: Command, cli: Cli): void {
  const skills = program.command("skills").description("OpenClaw skills (SKILL.md folders): what is installed, which copy wins, what each may do");

  skills
    .command("list")
    .alias("ls")
    .description("every skill found (workspace, workspace/.agents, profile, bundled), which tier won, and why a skill is inactive")
    .option("--workspace <dir>", "the workspace whose skills/ to read (default: the configured workspace)")
    .option("--json", "print JSON")
    .action(
      cli.action(async (opts: { workspace?: string; json?: boolean }, cmd: Command) => {
        const { profile, catalog } = await openCatalog(cli, cmd, opts.workspace);
        if (opts.json) {
          printJson({
            workspace: catalog.workspace,
            profile: profile.paths.home,
            roots: catalog.roots,
            settings: catalog.settings,
            secretStore: catalog.secretStore,
            skills: catalog.skills.map(skillJson),
            shadowed: catalog.shadowed,
            problems: catalog.problems,
          });
          return EXIT.ok;
        }
        println(`Skills for workspace ${printable(catalog.workspace)}`);
        for (const r of catalog.roots) println(style.dim(`  ${r.tier.padEnd(16)} ${printable(r.dir)}${r.exists ? "" : " (none)"}`));
        println();
        if (catalog.skills.length === 0) {
          println("No skills found.");
        } else {
          const rows = catalog.skills.map((s) => {
            const why = s.status.reasons.map((r) => r.message);
            if (s.shadows.length > 0) why.push(`shadows ${s.shadows.map((p) => p.tier).join(", ")}`);
            why.push(...s.warnings.map((w) => `note: ${w}`));
            return [printable(s.name), s.tier, stateBadge(s.status.state), printable(why.join("; ")) || "-"];
          });
          println(table([["NAME", "TIER", "STATE", "WHY / NOTES"].map(style.bold), ...rows]));
        }
        if (catalog.shadowed.length > 0) {
          println();
          println(style.bold("Shadowed (a higher tier has a skill of the same name):"));
          for (const s of catalog.shadowed) {
            println(`  ${printable(s.name)}  ${s.tier} ${printable(s.dir)}  ← ${s.by.tier} ${printable(s.by.dir)}${s.by.refused ? style.yellow(" (refused, so the name has no skill)") : ""}`);
          }
        }
        if (catalog.problems.length > 0) {
          println();
          println(style.bold(style.red(`Refused (${catalog.problems.length}; the other skills loaded):`)));
          for (const p of catalog.problems) println(printableLines(p.message, "  "));
        }
        if (!catalog.secretStore.known) {
          println();
          println(style.dim(`Secrets not checked: ${printable(catalog.secretStore.reason ?? "")}.`));
        }
        println();
        println(style.dim("What a skill may do: aegisclaw skills permissions NAME"));
        return EXIT.ok;
      }),
    );

  skills
    .command("permissions")
    .description("what a skill would be granted (scopes, secrets, tools) and a policy.yaml snippet to review; nothing is written or installed")
    .argument("<name>", "the skill's name")
    .option("--workspace <dir>", "the workspace whose skills/ to read (default: the configured workspace)")
    .option("--json", "print JSON")
    .action(
      cli.action(async (name: string, opts: { workspace?: string; json?: boolean }, cmd: Command) => {
        const { profile, catalog } = await openCatalog(cli, cmd, opts.workspace);
        const skill = catalog.get(name);
        if (skill === undefined) {
          const problems = catalog.problemsFor(name);
          if (problems.length > 0) {
            throw new AegisError("CONFIG_INVALID", `Skill ${printable(name)} was refused, so it has no permissions:\n${problems.map((p) => printableLines(p.message, "  ")).join("\n")}`, {
              details: { name, problems },
            });
          }
          throw new AegisError("USAGE", `No skill named ${printable(JSON.stringify(name))} in ${printable(catalog.workspace)}, its .agents folder, ${printable(profile.paths.home)}/skills or the bundled skills. \`aegisclaw skills list\` shows them.`, {
            details: { name },
          });
        }
        const snippet = policySnippet(skill, profile.paths.policy);
        const scopes = [...skill.grant.scopes, ...skill.grant.secrets.map((s) => `secret:${s.name}`)];
        if (opts.json) {
          printJson({
            name: skill.name,
            tier: skill.tier,
            dir: skill.dir,
            file: skill.file,
            digest: skill.digest,
            state: skill.status.state,
            active: skill.status.active,
            reasons: skill.status.reasons,
            scopes,
            grant: { ...skill.grant, tools: skill.grant.tools ?? null, risk: skill.grant.risk ?? null },
            install: skill.install.map((spec) => ({ ...spec, run: false })),
            warnings: skill.warnings,
            policyFile: profile.paths.policy,
            policySnippet: snippet,
          });
          return EXIT.ok;
        }
        println(`${style.bold(printable(skill.name))}  ${skill.tier}  ${printable(skill.file)}`);
        println(`  state: ${stateBadge(skill.status.state)}${skill.status.reasons.length > 0 ? ` — ${printable(skill.status.reasons.map((r) => r.message).join("; "))}` : ""}`);
        println();
        println(style.bold("Scopes it may be granted (never more than its SKILL.md declares):"));
        if (scopes.length === 0) println("  (none)");
        for (const s of skill.grant.scopes) println(`  ${printable(s)}`);
        for (const s of skill.grant.secrets) println(`  secret:${s.name}${style.dim(` (delivered as ${s.delivery === "file" ? `a file, $${s.name}_FILE` : `$${s.name}`})`)}`);
        println();
        println(`${style.bold("Tools its instructions may invoke:")} ${skill.grant.tools === undefined ? "not restricted by the skill (its scopes still bound what runs)" : skill.grant.tools.length === 0 ? "none" : printable(skill.grant.tools.join(", "))}`);
        println(`${style.bold("Risk:")} ${skill.grant.risk ?? "not declared"}`);
        if (skill.install.length > 0) {
          println();
          println(style.bold("Install steps (not run: AegisClaw never runs them; install the program yourself if you trust it):"));
          for (const spec of skill.install) println(`  ${installText(spec)}`);
        }
        for (const w of skill.warnings) println(style.yellow(`warning: ${printable(w)}`));
        println();
        println(style.bold(`policy.yaml snippet — review, then add it to ${printable(profile.paths.policy)} yourself (nothing was written):`));
        println();
        println(printableLines(snippet.slice(0, -1), ""));
        return EXIT.ok;
      }),
    );
}
