/** Skill folders laid out in temporary tiers, and a PATH holding only the programs a test says exist. */
import { chmodSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { tempDir } from "../helpers/tmp.ts";

export const FIXTURES = fileURLToPath(new URL("../fixtures/skills/", import.meta.url));

export interface Layout {
  readonly root: string;
  readonly workspace: string;
  readonly profileHome: string;
  readonly bundledDir: string;
  /** The folder of each tier. */
  readonly dirs: { readonly workspace: string; readonly "workspace-agents": string; readonly managed: string; readonly bundled: string };
}

export interface LayoutSpec {
  /** Fixture folders (e.g. "good/github") copied into each tier under their own folder name. */
  readonly workspace?: readonly string[];
  readonly agents?: readonly string[];
  readonly managed?: readonly string[];
  readonly bundled?: readonly string[];
}

export function layout(t: TestContext, spec: LayoutSpec = {}): Layout {
  const root = tempDir(t, "aegisclaw-skills-");
  const workspace = join(root, "ws");
  const profileHome = join(root, "profile");
  const bundledDir = join(root, "bundled");
  const dirs = {
    workspace: join(workspace, "skills"),
    "workspace-agents": join(workspace, ".agents", "skills"),
    managed: join(profileHome, "skills"),
    bundled: bundledDir,
  };
  mkdirSync(workspace, { recursive: true });
  mkdirSync(profileHome, { recursive: true, mode: 0o700 });
  const copy = (fixtures: readonly string[] | undefined, dir: string): void => {
    for (const f of fixtures ?? []) {
      mkdirSync(dir, { recursive: true });
      cpSync(join(FIXTURES, f), join(dir, basename(f)), { recursive: true });
    }
  };
  copy(spec.workspace, dirs.workspace);
  copy(spec.agents, dirs["workspace-agents"]);
  copy(spec.managed, dirs.managed);
  copy(spec.bundled, dirs.bundled);
  return { root, workspace, profileHome, bundledDir, dirs };
}

/** Writes `<dir>/<folder>/SKILL.md`. */
export function writeSkill(dir: string, folder: string, text: string): string {
  mkdirSync(join(dir, folder), { recursive: true });
  const file = join(dir, folder, "SKILL.md");
  writeFileSync(file, text);
  return file;
}

/** A PATH of one directory holding executable stubs named `bins`. */
export function fakePath(t: TestContext, bins: readonly string[]): string {
  const dir = tempDir(t, "aegisclaw-bin-");
  for (const bin of bins) {
    const file = join(dir, bin);
    writeFileSync(file, "#!/bin/sh\nexit 0\n");
    chmodSync(file, 0o755);
  }
  return dir;
}

export function skillMd(frontmatter: string, body = "# Instructions\n"): string {
  return `---\n${frontmatter.endsWith("\n") ? frontmatter : `${frontmatter}\n`}---\n\n${body}`;
}
