/**
 * The Docker backend: the `docker run` arguments it builds (every hardening
 * flag, images pinned by digest, no Docker socket, the environment exactly,
 * limits mapped) and what it says on a machine without a running engine.
 * Runs need an engine; without one they are skipped with the reason.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { AegisError } from "../../src/errors.ts";
import type { Limits, Mount, SandboxSpec } from "../../src/sandbox/backend.ts";
import { DockerBackend, checkPinnedImage, dockerEnvFileText, dockerRunArgs, type DockerRunOptions } from "../../src/sandbox/docker.ts";

const DIGEST = "a".repeat(64);
const IMAGE = `debian:bookworm-slim@sha256:${DIGEST}`;
const LIMITS: Limits = { timeoutMs: 10_000, outputBytes: 1 << 20, memoryMb: 128, pids: 32, fileSizeMb: 5, cpuSeconds: 7 };
const scratch = mkdtempSync(join(tmpdir(), "aegisclaw-docker-test-"));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function spec(extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return { argv: ["/bin/sh", "-c", "echo hi"], cwd: "/work", env: { PATH: "/usr/bin:/bin", TOKEN: "s3cr3t-value" }, mounts: [{ host: "/srv/work", target: "/work", mode: "rw" }], network: { mode: "none" }, limits: LIMITS, ...extra };
}

const RUN: DockerRunOptions = { image: IMAGE, name: "aegisclaw-test", envFile: "/tmp/private/env" };

/** The value after `flag` (the first, or every one with `all`). */
function valuesOf(args: readonly string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    const next = args[i + 1];
    if (a === flag && next !== undefined) out.push(next);
  });
  return out;
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof AegisError && err.code === "EXECUTOR_REFUSED" && pattern.test(err.message));
}

describe("dockerRunArgs", () => {
  test("hides what the executor lists: an empty read-only tmpfs over a directory, /dev/null over a file", () => {
    const dir = mkdtempSync(join(scratch, "hide-"));
    mkdirSync(join(dir, ".ssh"));
    writeFileSync(join(dir, ".env"), "X=1");
    const args = dockerRunArgs(spec({ mounts: [{ host: dir, target: dir, mode: "ro" }], hide: [join(dir, ".ssh"), join(dir, ".env"), join(dir, "gone")] }), RUN);
    assert.deepEqual(valuesOf(args, "--tmpfs").filter((v) => v.startsWith(dir)), [`${join(dir, ".ssh")}:ro,noexec,nosuid,nodev,size=4k`]);
    assert.ok(valuesOf(args, "--volume").includes(`/dev/null:${join(dir, ".env")}:ro`));
    // Masks come after the mount they mask (docker applies volumes before tmpfs; both after the bind).
    assert.ok(args.indexOf(`${dir}:${dir}:ro`) < args.indexOf(`/dev/null:${join(dir, ".env")}:ro`));
    refused(() => dockerRunArgs(spec({ hide: ["/srv/work/a:b"] }), RUN), /cannot hide/);
  });

  test("carries every hardening flag", () => {
    const args = dockerRunArgs(spec(), RUN);
    assert.equal(args[0], "run");
    for (const flag of ["--rm", "--init", "--read-only"]) assert.ok(args.includes(flag), `missing ${flag}`);
    assert.deepEqual(valuesOf(args, "--network"), ["none"]);
    assert.deepEqual(valuesOf(args, "--cap-drop"), ["ALL"]);
    assert.deepEqual(valuesOf(args, "--security-opt"), ["no-new-privileges"], "no-new-privileges, and never seccomp=unconfined");
    assert.deepEqual(valuesOf(args, "--user"), ["1000:1000"]);
    assert.deepEqual(valuesOf(args, "--tmpfs"), ["/tmp:rw,noexec,nosuid,size=64m,uid=1000,gid=1000"]);
    assert.deepEqual(valuesOf(args, "--pull"), ["never"], "a run never pulls");
    assert.deepEqual(valuesOf(args, "--log-driver"), ["none"], "the tool's output is not kept in the engine's logs");
    assert.deepEqual(valuesOf(args, "--name"), ["aegisclaw-test"]);
    assert.ok(valuesOf(args, "--ulimit").includes("core=0:0"));
    for (const flag of ["--privileged", "--cap-add", "--device", "--pid", "--ipc", "--uts", "--userns", "--volumes-from"]) assert.ok(!args.includes(flag), `unexpected ${flag}`);
    assert.ok(!args.some((a) => a.includes("unconfined")), "the engine's seccomp and AppArmor profiles stay on");
  });

  test("the command follows the image exactly; cwd and mounts as given", () => {
    const args = dockerRunArgs(spec({ argv: ["/usr/bin/env", "-i", "--rm"] }), RUN);
    const at = args.indexOf(IMAGE);
    assert.ok(at > 0);
    assert.deepEqual(args.slice(at + 1), ["/usr/bin/env", "-i", "--rm"]);
    assert.deepEqual(valuesOf(args, "--workdir"), ["/work"]);
    assert.deepEqual(valuesOf(args, "--volume"), ["/srv/work:/work:rw"]);
    const ro = dockerRunArgs(spec({ mounts: [{ host: "/srv/data", target: "/data", mode: "ro" }] }), RUN);
    assert.deepEqual(valuesOf(ro, "--volume"), ["/srv/data:/data:ro"]);
  });

  test("limits are mapped: pids, memory with no swap on top, file size, CPU seconds, cpus", () => {
    const args = dockerRunArgs(spec(), { ...RUN, cpus: 0.5 });
    assert.deepEqual(valuesOf(args, "--pids-limit"), ["32"]);
    assert.deepEqual(valuesOf(args, "--memory"), ["128m"]);
    assert.deepEqual(valuesOf(args, "--memory-swap"), ["128m"]);
    assert.deepEqual(valuesOf(args, "--cpus"), ["0.5"]);
    const ulimits = valuesOf(args, "--ulimit");
    assert.ok(ulimits.includes(`fsize=${5 * 1024 * 1024}:${5 * 1024 * 1024}`), ulimits.join(" "));
    assert.ok(ulimits.includes("cpu=7:7"), ulimits.join(" "));
    const bare = dockerRunArgs(spec({ limits: { timeoutMs: 1000, outputBytes: 10 } }), RUN);
    assert.deepEqual(valuesOf(bare, "--pids-limit"), []);
    assert.deepEqual(valuesOf(bare, "--cpus"), ["1"], "one CPU by default");
    refused(() => dockerRunArgs(spec({ limits: { ...LIMITS, pids: 0 } }), RUN), /process limit must be a positive whole number/);
    refused(() => dockerRunArgs(spec({ limits: { ...LIMITS, memoryMb: 1.5 } }), RUN), /memory limit must be a positive whole number/);
  });

  test("the environment goes exactly into the env file, never onto the command line", () => {
    const args = dockerRunArgs(spec(), RUN);
    assert.deepEqual(valuesOf(args, "--env-file"), ["/tmp/private/env"]);
    assert.ok(!args.some((a) => a.includes("s3cr3t-value")), "a secret on docker's command line shows in every process listing");
    assert.ok(!args.includes("-e") && !args.includes("--env"));
    assert.equal(dockerEnvFileText(spec()), "PATH=/usr/bin:/bin\nTOKEN=s3cr3t-value\nHOME=/tmp\n");
    assert.equal(dockerEnvFileText(spec({ env: {} })), "HOME=/tmp\nPATH=/usr/local/bin:/usr/bin:/bin\n");
    assert.equal(dockerEnvFileText(spec({ env: { HOME: "/h", PATH: "/p", EMPTY: "", SPACED: " a = b " } })), "HOME=/h\nPATH=/p\nEMPTY=\nSPACED= a = b \n");
    refused(() => dockerEnvFileText(spec({ env: { MULTI: "line1\nINJECTED=1" } })), /line break/);
    refused(() => dockerEnvFileText(spec({ env: { "BAD NAME": "x" } })), /cannot be passed/);
    refused(() => dockerEnvFileText(spec({ env: { "A=B": "x" } })), /cannot be passed/);
  });

  test("--runtime runsc only when asked, and nothing else is accepted", () => {
    assert.deepEqual(valuesOf(dockerRunArgs(spec(), RUN), "--runtime"), []);
    assert.deepEqual(valuesOf(dockerRunArgs(spec(), { ...RUN, runtime: "runsc" }), "--runtime"), ["runsc"]);
    refused(() => dockerRunArgs(spec(), { ...RUN, runtime: "runc" as "runsc" }), /unknown docker runtime "runc"/);
  });

  test("stdin is attached only when there is input", () => {
    assert.ok(!dockerRunArgs(spec(), RUN).includes("--interactive"));
    assert.ok(dockerRunArgs(spec({ stdin: "x" }), RUN).includes("--interactive"));
  });

  test("the egress proxy is refused in this version", () => {
    refused(() => dockerRunArgs(spec({ network: { mode: "proxy", socket: "/tmp/egress.sock" } }), RUN), /supports no network in this version/);
  });
});

describe("images must be pinned by digest", () => {
  for (const image of ["debian", "debian:bookworm", "debian:latest", `debian@sha256:${"a".repeat(63)}`, `debian@sha256:${"A".repeat(64)}`, `debian@sha512:${DIGEST}`, `-v/:/host@sha256:${DIGEST}`, `debian @sha256:${DIGEST}`, ""]) {
    test(`refuses ${JSON.stringify(image)}`, () => {
      refused(() => {
        checkPinnedImage(image);
      }, /pinned by digest/);
      refused(() => dockerRunArgs(spec(), { ...RUN, image }), /pinned by digest/);
    });
  }
  for (const image of [`debian@sha256:${DIGEST}`, IMAGE, `ghcr.io/org/tool@sha256:${DIGEST}`, `localhost:5000/team/tool:1.2@sha256:${DIGEST}`]) {
    test(`accepts ${image.slice(0, 40)}…`, () => {
      checkPinnedImage(image);
      assert.ok(dockerRunArgs(spec(), { ...RUN, image }).includes(image));
    });
  }
});

describe("the Docker socket is never mounted", () => {
  const cases: [string, Mount][] = [
    ["/var/run/docker.sock", { host: "/var/run/docker.sock", target: "/var/run/docker.sock", mode: "rw" }],
    ["/run/docker.sock under another name", { host: "/run/docker.sock", target: "/tmp/innocent", mode: "ro" }],
    ["any socket under /run", { host: "/run/user/1000/bus.sock", target: "/bus", mode: "ro" }],
    ["a socket under /var/run", { host: "/var/run/containerd.sock", target: "/c", mode: "ro" }],
    ["a docker.sock anywhere", { host: "/home/u/.docker/run/docker.sock", target: "/d", mode: "ro" }],
    ["/run itself (it holds the socket)", { host: "/run", target: "/hostrun", mode: "ro" }],
    ["/var/run itself", { host: "/var/run", target: "/hostrun", mode: "ro" }],
    ["/var", { host: "/var", target: "/hostvar", mode: "ro" }],
    ["the host root", { host: "/", target: "/host", mode: "ro" }],
  ];
  for (const [name, mount] of cases) {
    test(`refuses ${name}`, () => {
      refused(() => dockerRunArgs(spec({ mounts: [mount] }), RUN), /will not mount/);
    });
  }

  test("refuses a link that leads to /run", () => {
    const link = join(scratch, "innocent");
    symlinkSync("/run", link);
    refused(() => dockerRunArgs(spec({ mounts: [{ host: link, target: "/data", mode: "ro" }] }), RUN), /contains the Docker engine's socket/);
  });

  test("refuses paths docker's -v syntax would misread, and relative or unnormalized paths", () => {
    refused(() => dockerRunArgs(spec({ mounts: [{ host: "/srv/a:/etc", target: "/a", mode: "ro" }] }), RUN), /cannot carry/);
    refused(() => dockerRunArgs(spec({ mounts: [{ host: "/srv/a", target: "/a,readonly=false", mode: "ro" }] }), RUN), /cannot carry/);
    refused(() => dockerRunArgs(spec({ mounts: [{ host: "srv/a", target: "/a", mode: "ro" }] }), RUN), /absolute, normalized/);
    refused(() => dockerRunArgs(spec({ mounts: [{ host: "/srv/../etc", target: "/a", mode: "ro" }] }), RUN), /absolute, normalized/);
    refused(() => dockerRunArgs(spec({ mounts: [{ host: "/srv/a", target: "/proc", mode: "rw" }] }), RUN), /may not replace \/proc/);
  });
});

describe("DockerBackend on this machine", async () => {
  const backend = new DockerBackend({ image: IMAGE });
  const caps = await backend.detect();

  test("detect() says whether an engine runs, and why not", (t) => {
    if (caps.available) {
      t.diagnostic(`a Docker engine runs here: ${caps.version ?? "?"}`);
      return;
    }
    t.diagnostic(`docker backend unavailable: ${caps.notes.join("; ")}`);
    assert.equal(caps.notes.length, 1);
    const note = caps.notes[0] ?? "";
    assert.match(note, /^no Docker engine is running \(docker info: .+\)$|the docker CLI is not installed|is not on this engine/);
    assert.deepEqual(Object.values(caps.enforces), [false, false, false, false, false, false]);
  });

  test("an image that is not pinned makes detect() say so (when an engine runs) and run() refuse", async () => {
    const loose = new DockerBackend({ image: "debian:latest" });
    await assert.rejects(loose.run(spec({ mounts: [] })), (err: unknown) => err instanceof AegisError && /pinned by digest/.test(err.message));
    const looseCaps = await loose.detect();
    assert.equal(looseCaps.available, false);
  });

  test("run() without an engine refuses, saying docker could not start the container", { skip: caps.available ? "an engine runs here" : false }, async () => {
    await assert.rejects(backend.run(spec({ mounts: [] })), (err: unknown) => err instanceof AegisError && err.code === "EXECUTOR_REFUSED" && /could not start the container|not installed/.test(err.message));
  });

  const noEngine = caps.available ? false : `no Docker engine here (${caps.notes.join("; ")}); the run tests need one`;
  test("runs echo in a container and returns its output", { skip: noEngine }, async () => {
    const r = await backend.run(spec({ argv: ["/bin/sh", "-c", "echo hi; id -u"], mounts: [], cwd: "/" }));
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.toString(), "hi\n1000\n");
  });

  test("the deadline kills the container", { skip: noEngine }, async () => {
    const r = await backend.run(spec({ argv: ["/bin/sh", "-c", "sleep 30"], mounts: [], cwd: "/", limits: { ...LIMITS, timeoutMs: 1000 } }));
    assert.ok(r.violations.some((v) => v.kind === "timeout"));
  });
});
