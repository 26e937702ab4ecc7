/** `aegisclaw doctor`: what this machine can enforce, what is missing, and the fix for each. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { findPermissionProblems } from "../config/profile.ts";
import { profilePaths } from "../config/paths.ts";
import { EXIT } from "../errors.ts";
import { cgroupSupport } from "../sandbox/cgroup.ts";
import { DENIED_SYSCALLS, hostSeccompArch } from "../sandbox/seccomp.ts";
import type { Cli } from "./program.ts";
import { printJson, println, style, table } from "./output.ts";

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  /** Required checks failing make doctor exit non-zero. */
  readonly required: boolean;
  readonly detail: string;
  readonly fix: string | undefined;
}

function probe(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return { ok: false, out: (r.error as NodeJS.ErrnoException).code === "ENOENT" ? "not installed" : r.error.message };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "" };
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

const APT = "sudo apt-get install -y";

export function runChecks(home: string): Check[] {
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  checks.push({
    name: "node",
    ok: major > 22 || (major === 22 && minor >= 13),
    required: true,
    detail: `Node.js ${process.versions.node}${major >= 24 ? "" : " (24 LTS recommended)"}`,
    fix: major >= 24 ? undefined : "run ./setup in the source checkout (installs Node 24 locally) or install Node 24 LTS",
  });

  const maxUserNs = readTrim("/proc/sys/user/max_user_namespaces");
  const unprivClone = readTrim("/proc/sys/kernel/unprivileged_userns_clone");
  const usernsOk = maxUserNs !== undefined && Number(maxUserNs) > 0 && unprivClone !== "0";
  checks.push({
    name: "user namespaces",
    ok: usernsOk,
    required: true,
    detail: maxUserNs === undefined ? "not a Linux kernel with user namespaces" : `max_user_namespaces=${maxUserNs}${unprivClone !== undefined ? `, unprivileged_userns_clone=${unprivClone}` : ""}`,
    fix: usernsOk ? undefined : "sudo sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1",
  });

  const bwrap = probe("bwrap", ["--version"]);
  let bwrapWorks = false;
  if (bwrap.ok) bwrapWorks = probe("bwrap", ["--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--die-with-parent", "true"]).ok;
  checks.push({
    name: "bubblewrap",
    ok: bwrap.ok && bwrapWorks,
    required: true,
    detail: bwrap.ok ? `${bwrap.out}${bwrapWorks ? ", creates an isolated namespace" : ", but cannot create a sandbox here (see user namespaces)"}` : bwrap.out,
    fix: bwrap.ok ? (bwrapWorks ? undefined : "enable unprivileged user namespaces (see above) or run inside a VM that allows them") : `${APT} bubblewrap`,
  });

  const seccomp = readTrim("/proc/self/status")?.split("\n").find((l) => l.startsWith("Seccomp:"));
  checks.push({ name: "seccomp", ok: seccomp !== undefined, required: true, detail: seccomp ?? "kernel reports no seccomp support", fix: seccomp ? undefined : "use a kernel built with CONFIG_SECCOMP_FILTER" });

  let filterArch: string | undefined;
  try {
    filterArch = hostSeccompArch();
  } catch {
    filterArch = undefined;
  }
  checks.push({
    name: "sandbox syscall filter",
    ok: filterArch !== undefined,
    required: true,
    detail: filterArch !== undefined ? `generated for ${filterArch}: ${String(DENIED_SYSCALLS.length)} system calls refused (ptrace, io_uring, bpf, user namespaces, mount, …)` : `no filter for ${process.arch}`,
    fix: filterArch !== undefined ? undefined : "run AegisClaw on x86_64 or aarch64",
  });

  const cg = cgroupSupport();
  const isRoot = process.getuid?.() === 0;
  checks.push({
    name: "sandbox memory/process limits",
    ok: cg.mode !== "none" || !isRoot,
    required: false,
    detail: cg.mode !== "none" ? `control groups (${cg.mode}): exact memory and process limits per run` : `resource limits per process (RLIMIT_AS, RLIMIT_NPROC): ${cg.reason ?? ""}`,
    fix: cg.mode !== "none" || !isRoot ? undefined : "as root without usable cgroups, runs that ask for a process limit are refused; mount the cgroup memory and pids controllers",
  });

  const age = probe("age", ["--version"]);
  checks.push({ name: "age", ok: age.ok, required: false, detail: age.ok ? `age ${age.out}` : age.out, fix: age.ok ? undefined : `${APT} age   (for interoperable encrypted secrets)` });

  const runsc = probe("runsc", ["--version"]);
  checks.push({ name: "runsc (gVisor)", ok: runsc.ok, required: false, detail: runsc.ok ? runsc.out : runsc.out, fix: runsc.ok ? undefined : `${APT} runsc   (stronger isolation for Docker tools)` });

  const dockerClient = probe("docker", ["--version"]);
  const dockerEngine = dockerClient.ok ? probe("docker", ["info", "--format", "{{.ServerVersion}}"]) : { ok: false, out: "" };
  checks.push({
    name: "docker engine",
    ok: dockerEngine.ok,
    required: false,
    detail: !dockerClient.ok ? "not installed" : dockerEngine.ok ? `engine ${dockerEngine.out}` : "client installed, no engine reachable",
    fix: dockerEngine.ok ? undefined : "optional: install and start a Docker engine (docker.io) to use the docker/gVisor backend",
  });

  const paths = profilePaths(home);
  if (!existsSync(paths.config)) {
    checks.push({ name: "profile", ok: false, required: false, detail: `no profile at ${paths.home}`, fix: `aegisclaw init${home === paths.home ? "" : ` --home ${home}`}` });
  } else {
    const problems = findPermissionProblems(paths);
    checks.push({
      name: "profile",
      ok: problems.length === 0,
      required: true,
      detail: problems.length === 0 ? `${paths.home}, permissions private` : `${problems.length} file(s) readable or writable by others`,
      fix: problems.length === 0 ? undefined : `chmod -R go-rwx ${JSON.stringify(paths.home)}`,
    });
  }
  return checks;
}

export function registerDoctor(program: Command, cli: Cli): void {
  program
    .command("doctor")
    .description("check what this machine can enforce (sandbox, namespaces, tools) and how to fix what is missing")
    .option("--json", "print the checks as JSON")
    .action(
      cli.action(async (opts: { json?: boolean }, cmd: Command) => {
        const checks = runChecks(cli.home(cmd));
        const failedRequired = checks.filter((c) => c.required && !c.ok);
        if (opts.json) printJson({ ok: failedRequired.length === 0, checks });
        else {
          println(table(checks.map((c) => [c.ok ? style.green("ok") : c.required ? style.red("MISSING") : style.yellow("optional"), c.name, c.detail])));
          const fixes = checks.filter((c) => !c.ok && c.fix);
          if (fixes.length > 0) {
            println();
            println("To fix:");
            for (const c of fixes) println(`  ${c.name}: ${c.fix ?? ""}`);
          }
        }
        return Promise.resolve(failedRequired.length === 0 ? EXIT.ok : EXIT.error);
      }),
    );
}
