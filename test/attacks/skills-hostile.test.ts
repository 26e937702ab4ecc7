/**
 * Attacks on the skill loader: a SKILL.md (or a skills folder) written by
 * someone else — a ClawHub upload, a cloned repo, an agent that wrote into
 * its workspace — tries to exhaust memory or CPU, escape its folder, read
 * files through links, impersonate or knock out another skill, or declare
 * more than it may be granted. Each is refused with a message naming the
 * file, and the other skills still load.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";

import { MAX_SKILLS_PER_TIER, loadSkillCatalog, parseSkillMd, type SkillCatalog } from "../../src/skills/index.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";
import { layout, skillMd, writeSkill, type Layout } from "../skills/helpers.ts";

function load(l: Layout): SkillCatalog {
  return loadSkillCatalog({ workspace: l.workspace, profileHome: l.profileHome, bundledDir: l.bundledDir, env: { PATH: "" }, platform: "linux", secrets: { known: true, names: new Set() } });
}

/** Loads `folder` (a fixture under malformed/ or a SKILL.md text) next to weather; returns the one problem, after checking weather loaded. */
function refusedAlongsideWeather(t: TestContext, skill: { fixture: string } | { folder: string; text: string | Buffer }): { message: string; file: string; catalog: SkillCatalog; l: Layout } {
  const l = layout(t, { workspace: ["good/weather", ...("fixture" in skill ? [skill.fixture] : [])] });
  if ("text" in skill) {
    mkdirSync(join(l.dirs.workspace, skill.folder), { recursive: true });
    writeFileSync(join(l.dirs.workspace, skill.folder, "SKILL.md"), skill.text);
  }
  const catalog = load(l);
  assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"], "the good skill still loads");
  assert.equal(catalog.problems.length, 1, JSON.stringify(catalog.problems, null, 2));
  const problem = catalog.problems[0];
  assert.ok(problem);
  const folder = "fixture" in skill ? (skill.fixture.split("/").at(-1) ?? "") : skill.folder;
  const file = join(l.dirs.workspace, folder, "SKILL.md");
  assert.equal(problem.file, file);
  assert.ok(problem.message.startsWith(file), `the message names the file: ${problem.message}`);
  return { message: problem.message, file, catalog, l };
}

describe("attack: resource exhaustion", () => {
  test("a YAML alias bomb (billion laughs) is refused at its first anchor, before anything is expanded", (t) => {
    const started = performance.now();
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/alias-bomb" });
    assert.match(message, /SKILL\.md:4: YAML anchors \(&lol1\) are refused/);
    assert.ok(performance.now() - started < 2000, "no expansion happened");
  });

  test("any alias or anchor is refused, even a harmless-looking one", () => {
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: &d text\nhomepage: *d"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /:3: YAML anchors \(&d\)/));
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d\nbase: &b { a: 1 }\nmerged: { <<: *b }"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /YAML anchors/));
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d\nhomepage: *undefined"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /SKILL\.md:4: /));
  });

  test("YAML tags are refused (no !!binary buffers, no custom types)", () => {
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d\nblob: !!binary aGVsbG8="), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /:4: YAML tags \(tag:yaml\.org,2002:binary\) are refused/));
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: !js/function 'return 1'"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /YAML tags \(!js\/function\)/));
  });

  test("frontmatter over 64 KiB is refused (generated here, not committed)", (t) => {
    const { message } = refusedAlongsideWeather(t, { folder: "huge-frontmatter", text: skillMd(`name: huge-frontmatter\ndescription: ${"A".repeat(70 * 1024)}`) });
    assert.match(message, /the frontmatter is larger than 64 KiB; refused/);
  });

  test("frontmatter that is never closed is refused at 64 KiB, not scanned to the end", (t) => {
    const { message } = refusedAlongsideWeather(t, { folder: "unclosed", text: `---\nname: unclosed\n${"x: 1\n".repeat(20_000)}` });
    assert.match(message, /the frontmatter is larger than 64 KiB/);
    assert.throws(() => parseSkillMd("---\nname: x\ndescription: d\n", "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /never closed/));
  });

  test("frontmatter with multi-byte characters is measured in bytes", () => {
    // 30,000 three-byte characters: under 64 Ki characters, over 64 KiB.
    assert.throws(() => parseSkillMd(skillMd(`name: x\ndescription: ${"€".repeat(30_000)}`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /larger than 64 KiB/));
  });

  test("a SKILL.md over 1 MiB is refused before it is read (generated here, not committed)", (t) => {
    const { message } = refusedAlongsideWeather(t, { folder: "huge-body", text: skillMd("name: huge-body\ndescription: d", "B".repeat((1 << 20) + 1)) });
    assert.match(message, /SKILL\.md is larger than 1 MiB \(\d+ bytes\); refused/);
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d", "B".repeat(1 << 20)), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /larger than 1 MiB/));
  });

  test("deeply nested YAML is refused with a message, not a crash", () => {
    const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
    assert.throws(() => parseSkillMd(skillMd(`name: x\ndescription: d\nmetadata: ${deep}`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /\/s\/x\/SKILL\.md:\d+: /));
  });

  test(`more than ${MAX_SKILLS_PER_TIER} skills in one tier: the rest are not loaded, and that is reported`, (t) => {
    const l = layout(t);
    for (let i = 0; i <= MAX_SKILLS_PER_TIER; i += 1) {
      const name = `s${String(i).padStart(3, "0")}`;
      writeSkill(l.dirs.workspace, name, skillMd(`name: ${name}\ndescription: d`));
    }
    const catalog = load(l);
    assert.equal(catalog.skills.length, MAX_SKILLS_PER_TIER);
    assert.equal(catalog.problems.length, 1);
    assert.match(catalog.problems[0]?.message ?? "", /more than 200 skills; s200 and the ones after it/);
  });

  test("invalid UTF-8 is refused", (t) => {
    const { message } = refusedAlongsideWeather(t, { folder: "latin1", text: Buffer.concat([Buffer.from(skillMd("name: latin1\ndescription: caf")), Buffer.from([0xe9, 0xff])]) });
    assert.match(message, /not valid UTF-8/);
  });
});

describe("attack: escaping the skills folder", () => {
  test("a skill folder that is a symlink to a folder outside its tier is refused (created here)", (t) => {
    const l = layout(t, { workspace: ["good/weather"] });
    const outside = join(tempDir(t, "aegisclaw-outside-"), "evil");
    writeSkill(join(outside, ".."), "evil", skillMd("name: evil\ndescription: lives outside the workspace"));
    symlinkSync(outside, join(l.dirs.workspace, "evil"));
    const catalog = load(l);
    assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"]);
    assert.equal(catalog.problems.length, 1);
    assert.match(catalog.problems[0]?.message ?? "", new RegExp(`^${join(l.dirs.workspace, "evil")}: the skill folder is a symbolic link to ${outside}, outside its skills folder`));
  });

  test("a link to the tier folder itself, or to its parent, is refused", (t) => {
    const l = layout(t, { workspace: ["good/weather"] });
    symlinkSync(l.dirs.workspace, join(l.dirs.workspace, "loop"));
    symlinkSync("..", join(l.dirs.workspace, "up"));
    writeFileSync(join(l.workspace, "SKILL.md"), skillMd("name: up\ndescription: the workspace root pretending to be a skill"));
    const catalog = load(l);
    assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"]);
    assert.deepEqual(catalog.problems.map((p) => p.message.includes("outside its skills folder")), [true, true]);
  });

  test("a link to another folder inside the same tier is followed (it is still inside)", (t) => {
    const l = layout(t);
    writeSkill(join(l.dirs.workspace, ".store"), "weather-v2", skillMd("name: weather\ndescription: kept in a hidden store folder"));
    symlinkSync(join(l.dirs.workspace, ".store", "weather-v2"), join(l.dirs.workspace, "weather"));
    const catalog = load(l);
    assert.deepEqual(catalog.problems, []);
    assert.equal(catalog.get("weather")?.dir, join(l.dirs.workspace, "weather"));
  });

  test("SKILL.md that is itself a symlink is refused, even to a file inside the tier (created here)", (t) => {
    const l = layout(t, { workspace: ["good/weather"] });
    mkdirSync(join(l.dirs.workspace, "linked"));
    writeFileSync(join(l.dirs.workspace, "real.md"), skillMd("name: linked\ndescription: d"));
    symlinkSync(join(l.dirs.workspace, "real.md"), join(l.dirs.workspace, "linked", "SKILL.md"));
    mkdirSync(join(l.dirs.workspace, "passwd"));
    symlinkSync("/etc/passwd", join(l.dirs.workspace, "passwd", "SKILL.md"));
    const catalog = load(l);
    assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"]);
    assert.equal(catalog.problems.length, 2);
    for (const p of catalog.problems) assert.match(p.message, /SKILL\.md: SKILL\.md is a symbolic link; refused/);
  });

  test("a SKILL.md that is a FIFO is refused without blocking", { skip: spawnSync("mkfifo", ["--version"]).status !== 0 ? "mkfifo is not installed" : false }, (t) => {
    const l = layout(t, { workspace: ["good/weather"] });
    mkdirSync(join(l.dirs.workspace, "fifo"));
    assert.equal(spawnSync("mkfifo", [join(l.dirs.workspace, "fifo", "SKILL.md")]).status, 0);
    const catalog = load(l);
    assert.match(catalog.problems[0]?.message ?? "", /SKILL\.md is not a regular file/);
  });

  test("a name that is a path is refused (path traversal)", (t) => {
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/traversal-name" });
    assert.match(message, /SKILL\.md:2: name "\.\.\/\.\.\/\.\.\/\.ssh\/authorized_keys" looks like a path/);
    for (const name of ["..", "a/b", "a\\\\b", "'..\\\\evil'", "x..y"]) {
      assert.throws(() => parseSkillMd(skillMd(`name: ${name}\ndescription: d`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /looks like a path/), name);
    }
  });

  test("names outside ^[a-z0-9][a-z0-9._-]{0,63}$ are refused; non-ASCII is never folded into ASCII", () => {
    for (const name of ["-dash-first", "_under", "has space", "ünïcode", "gıthub", "GİTHUB", `"zero\\u200bwidth"`, `"bidi\\u202egithub"`, `"nul\\u0000"`, "a".repeat(65), "'emoji🙂'", "''"]) {
      assert.throws(() => parseSkillMd(skillMd(`name: ${name}\ndescription: d`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /is not a skill name|must be text|looks like a path/), name);
    }
    assert.throws(() => parseSkillMd(skillMd("name: [a, b]\ndescription: d"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /`name` must be text/));
    // Invisible characters are shown escaped in the message, not rendered.
    assert.throws(() => parseSkillMd(skillMd(`name: "git\\u202ehub"\ndescription: d`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /name "git\\u202ehub" is not a skill name/));
  });
});

describe("attack: impersonating or knocking out other skills", () => {
  test("two folders in one tier claiming one name are both refused, naming both folders", (t) => {
    const l = layout(t, { workspace: ["good/weather", "duplicates/twin-a", "duplicates/twin-b"] });
    const catalog = load(l);
    assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"]);
    assert.equal(catalog.problems.length, 2);
    const [a, b] = catalog.problems;
    assert.match(a?.message ?? "", new RegExp(`twin-a/SKILL\\.md: the name twin is also claimed in this workspace tier by ${join(l.dirs.workspace, "twin-b")}; all of them are refused`));
    assert.match(b?.message ?? "", new RegExp(`twin-b/SKILL\\.md: the name twin is also claimed in this workspace tier by ${join(l.dirs.workspace, "twin-a")}`));
  });

  test("a duplicate in a higher tier does not let a lower copy through", (t) => {
    const l = layout(t, { workspace: ["duplicates/twin-a", "duplicates/twin-b"], managed: ["duplicates/twin-a"] });
    const catalog = load(l);
    assert.equal(catalog.get("twin"), undefined);
    assert.deepEqual(catalog.shadowed.map((s) => [s.tier, s.by.refused]), [["managed", true]]);
  });

  test("folding makes GitHub and github one name: two such folders in one tier are duplicates", (t) => {
    const l = layout(t);
    writeSkill(l.dirs.workspace, "github", skillMd("name: github\ndescription: d"));
    writeSkill(l.dirs.workspace, "GitHub", skillMd("name: GitHub\ndescription: d"));
    const catalog = load(l);
    assert.equal(catalog.get("github"), undefined);
    assert.equal(catalog.problems.length, 2);
  });
});

describe("attack: malformed declarations", () => {
  test("frontmatter that is not YAML", (t) => {
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/bad-yaml" });
    assert.match(message, /SKILL\.md:\d+: the frontmatter is not valid YAML/);
  });

  test("no frontmatter at all", (t) => {
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/no-frontmatter" });
    assert.match(message, /SKILL\.md:1: does not start with YAML frontmatter/);
  });

  test("metadata JSON5 that does not parse", (t) => {
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/bad-json5" });
    assert.match(message, /SKILL\.md:4: metadata is not valid JSON5: JSON5: invalid character/);
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d\nmetadata: '[1, 2]'"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /metadata must be a JSON5 object/));
    assert.throws(() => parseSkillMd(skillMd("name: x\ndescription: d\nmetadata: 42"), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /metadata must be a JSON5 object/));
  });

  test("an unknown install kind (OpenClaw silently drops it; AegisClaw refuses the skill)", (t) => {
    const { message } = refusedAlongsideWeather(t, { fixture: "malformed/unknown-install" });
    assert.match(message, /SKILL\.md:12: metadata\.openclaw\.install\[1\]\.kind: unknown install kind "apt": AegisClaw understands brew, node, go, uv, download/);
  });

  test("non-string bins and env entries", (t) => {
    assert.match(refusedAlongsideWeather(t, { fixture: "malformed/non-string-bins" }).message, /metadata\.openclaw\.requires\.bins\[1\]: Invalid input: expected string, received number/);
    assert.match(refusedAlongsideWeather(t, { fixture: "malformed/non-string-env" }).message, /metadata\.openclaw\.requires\.env\[0\]: Invalid input: expected string, received object/);
    assert.throws(() => parseSkillMd(skillMd('name: x\ndescription: d\nmetadata: { "openclaw": { "requires": { "bins": "gh" } } }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /requires\.bins: Invalid input: expected array/));
  });

  test("bins with a / or white space (a bin is a bare program name), in bins, anyBins and install bins", (t) => {
    assert.match(refusedAlongsideWeather(t, { fixture: "malformed/bin-path" }).message, /requires\.bins\[0\]: "\/usr\/bin\/curl" is a path; a bin is a bare program name/);
    assert.match(refusedAlongsideWeather(t, { fixture: "malformed/bin-space" }).message, /requires\.bins\[0\]: "gh auth token" contains white space/);
    for (const [where, bins] of [
      ["requires.anyBins", '{ "requires": { "anyBins": ["../../bin/sh"] } }'],
      ["requires.bins", '{ "requires": { "bins": ["gh\\tauth"] } }'],
      ["requires.bins", '{ "requires": { "bins": ["-rf"] } }'],
      ["requires.bins", '{ "requires": { "bins": [""] } }'],
      ["install[0].bins", '{ "install": [{ "kind": "brew", "formula": "gh", "bins": ["/opt/gh"] }] }'],
    ] as const) {
      assert.throws(() => parseSkillMd(skillMd(`name: x\ndescription: d\nmetadata: { "openclaw": ${bins} }`), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", new RegExp(where.replace(/[.[\]]/g, "\\$&"))), bins);
    }
  });

  test("env names that could never be secret names", () => {
    assert.throws(() => parseSkillMd(skillMd('name: x\ndescription: d\nmetadata: { "openclaw": { "requires": { "env": ["gh_token"] } } }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /requires\.env\[0\]: an env\/secret name is upper-case/));
    assert.throws(() => parseSkillMd(skillMd('name: x\ndescription: d\nmetadata: { "openclaw": { "requires": { "env": ["PATH=/tmp"] } } }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /requires\.env\[0\]/));
  });

  test("metadata JSON5 with __proto__ pollutes nothing", () => {
    const m = parseSkillMd(skillMd(`name: x\ndescription: d\nmetadata: '{ "__proto__": { "polluted": true }, "openclaw": { "requires": { "bins": ["gh"] } } }'`), "/s/x/SKILL.md");
    assert.deepEqual(m.requires.bins, ["gh"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("attack: declaring more than a skill may be granted (metadata.aegisclaw)", () => {
  const ext = (aegisclaw: string, openclaw = "{}"): string => skillMd(`name: x\ndescription: d\nmetadata: { "openclaw": ${openclaw}, "aegisclaw": ${aegisclaw} }`);

  function refusedGrant(t: TestContext, text: string): string {
    const l = layout(t, { workspace: ["good/weather"] });
    writeSkill(l.dirs.workspace, "x", text);
    const catalog = load(l);
    assert.deepEqual(catalog.skills.map((s) => s.name), ["weather"]);
    assert.equal(catalog.get("x"), undefined);
    assert.equal(catalog.problems.length, 1);
    const message = catalog.problems[0]?.message ?? "";
    assert.ok(message.startsWith(join(l.dirs.workspace, "x", "SKILL.md")), message);
    return message;
  }

  test("a misspelt key in our extension is refused, not ignored", () => {
    assert.throws(() => parseSkillMd(ext('{ "netwrok": { "allow": ["api.github.com"] } }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /metadata\.aegisclaw\.netwrok: unknown key "netwrok"/));
    assert.throws(() => parseSkillMd(ext('{ "mounts": [{ "path": "/tmp", "mode": "rw" }] }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /metadata\.aegisclaw\.mounts\[0\]\.mode: unknown key/));
    assert.throws(() => parseSkillMd(ext('{ "risk": "none" }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /risk is low, medium or high/));
  });

  test("a file-delivery request for a secret the skill does not declare", () => {
    assert.throws(() => parseSkillMd(ext('{ "secrets": { "AWS_SECRET_ACCESS_KEY": "file" } }', '{ "requires": { "env": ["GH_TOKEN"] } }'), "/s/x/SKILL.md"), isAegis("CONFIG_INVALID", /sets the delivery of AWS_SECRET_ACCESS_KEY, which requires\.env does not declare/));
  });

  test("wildcards, bare families and secret scopes are refused: a skill declares exact scopes", (t) => {
    assert.match(refusedGrant(t, ext('{ "scopes": ["files.read:/home/**"] }')), /has a wildcard/);
    assert.match(refusedGrant(t, ext('{ "network": { "allow": ["*.github.com"] } }')), /network\.allow: "\*\.github\.com" has a wildcard/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["shell.exec"] }')), /names no program, so it would cover every program/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["files.write"] }')), /names no path/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["net.connect"] }')), /names no host/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["secret:AWS_SECRET_ACCESS_KEY"] }')), /secrets are declared in metadata\.openclaw\.requires\.env/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["not a scope"] }')), /is not a scope/);
  });

  test("relative paths, unknown variables and ports are refused", (t) => {
    assert.match(refusedGrant(t, ext('{ "mounts": [{ "path": "notes" }] }')), /give an absolute path, or start it with \$\{workspace\}/);
    assert.match(refusedGrant(t, ext('{ "scopes": ["files.read:../.ssh/id_ed25519"] }')), /give an absolute path/);
    assert.match(refusedGrant(t, ext('{ "mounts": [{ "path": "${profile}/keys" }] }')), /unknown variable \$\{profile\}/);
    assert.match(refusedGrant(t, ext('{ "mounts": [{ "path": "/tmp/$HOME" }] }')), /contains "\$"/);
    assert.match(refusedGrant(t, ext('{ "network": { "allow": ["api.github.com:443"] } }')), /drop the port/);
    assert.match(refusedGrant(t, ext('{ "network": { "allow": ["user@evil.example"] } }')), /not a bare host name/);
  });

  test("a mounted path whose real location contains a glob character is refused (policy would widen it)", (t) => {
    const l = layout(t, { workspace: ["good/weather"] });
    const odd = join(l.root, "odd*dir");
    mkdirSync(odd);
    symlinkSync(odd, join(l.workspace, "plain"));
    writeSkill(l.dirs.workspace, "x", ext('{ "mounts": [{ "path": "${workspace}/plain" }] }'));
    const catalog = load(l);
    assert.equal(catalog.get("x"), undefined);
    assert.match(catalog.problems[0]?.message ?? "", /contains "\*" or "\$\{" once canonicalised/);
  });
});
