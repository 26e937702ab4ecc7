/** `aegisclaw init`: create a profile, never overwriting anything. */
import type { Command } from "commander";
import { openAuditLog } from "../audit/open.ts";
import { initProfile, openProfile } from "../config/profile.ts";
import { EXIT } from "../errors.ts";
import type { Cli } from "./program.ts";
import { printJson, println, style } from "./output.ts";
import { mkdirSync } from "node:fs";

export async function initAndOpen(home: string, workspace: string | undefined): Promise<ReturnType<typeof initProfile>> {
  const report = initProfile({ home, ...(workspace !== undefined ? { workspace } : {}) });
  const profile = openProfile(home);
  mkdirSync(profile.workspace, { recursive: true, mode: 0o700 });
  // Opening the log creates the database; the first entry records the profile's creation.
  const log = await openAuditLog(profile.paths, { checkpointEvery: profile.config.audit.checkpoint_every });
  try {
    if (report.created.length > 0) {
      await log.append({ kind: "system", actor: "cli", action: "profile.init", resource: profile.paths.home, decision: "info", detail: { created: report.created, workspace: profile.workspace } });
    }
  } finally {
    await log.close();
  }
  return report;
}

export function registerInit(program: Command, cli: Cli): void {
  program
    .command("init")
    .description("create a profile (config, default policy, audit log, checkpoint key); re-running never overwrites anything")
    .option("--workspace <dir>", "the agent's workspace (default ~/aegisclaw-workspace)")
    .option("--json", "print the result as JSON")
    .action(
      cli.action(async (opts: { workspace?: string; json?: boolean }, cmd: Command) => {
        const home = cli.home(cmd);
        const report = await initAndOpen(home, opts.workspace);
        if (opts.json) {
          printJson(report);
          return EXIT.ok;
        }
        println(report.created.length > 0 ? style.green(`Profile ready at ${report.home}`) : `Profile ${report.home} already exists; nothing was changed.`);
        for (const p of report.created) println(`  created  ${p}`);
        for (const p of report.existing) println(style.dim(`  exists   ${p}`));
        println();
        println("Next: aegisclaw doctor        (what this machine can enforce)");
        println("      aegisclaw policy explain --tool files.read --arg path=/etc/passwd");
        return EXIT.ok;
      }),
    );
}
