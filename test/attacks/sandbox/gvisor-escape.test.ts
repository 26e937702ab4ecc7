/**
 * Escape suite for the gVisor backend: a tool inside runsc tries to get out —
 * read host files, follow planted links, write outside its mounts, reach the
 * host's loopback servers, use raw sockets, ptrace, user namespaces, mounts
 * and other kernel surface, keep a process alive after its action, exhaust
 * processes, threads, memory, output and time, gain privileges, read another
 * action's environment. Every attempt must fail. Runs for real (CI is root);
 * the core attempts run again with AegisClaw unprivileged (uid 65534), where
 * the backend uses `runsc --rootless`. Skipped, with the reason, only when
 * runsc cannot run a container on this machine at all.
 *
 * Network attempts target only loopback: a server of the test's own on
 * 127.0.0.1, which the sandbox's network (gVisor's stack, loopback only)
 * cannot reach.
 *
 * gVisor 20221219 fails coreutils' `ls`/`stat` (statx with AT_NO_AUTOMOUNT),
 * so directory listings here use shell globs and perl.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Limits } from "../../../src/sandbox/backend.ts";
import { cgroupSupport } from "../../../src/sandbox/cgroup.ts";
import { GVisorBackend } from "../../../src/sandbox/gvisor.ts";
import { escapeHost, sandboxRunner } from "./fixture.ts";

/** A private scratch area outside anything mounted: host files the sandbox must never see. */
const host = escapeHost("aegisclaw-gvisor-escape-");
const { base, hostSecretDir, profileDir, workspace, marker: MARKER } = host;
const runs = join(base, "runs");
mkdirSync(runs, { mode: 0o700 });
const backend = new GVisorBackend({ workDir: runs });
const caps = await backend.detect();
const skip = caps.available ? false : `runsc cannot run here: ${caps.notes.join("; ")}`;
const isRoot = process.getuid?.() === 0;

before(() => host.setUp());
after(() => {
  host.tearDown();
});

const LIMITS: Limits = { timeoutMs: 20_000, outputBytes: 1 << 20, memoryMb: 512, pids: 128 };
const { spec, sh, perl } = sandboxRunner(backend, workspace, LIMITS);

describe("sandbox escape attempts (gvisor)", { skip }, () => {
  describe("host files", () => {
    test("1. /etc/shadow is not there", async () => {
      const r = await sh("cat /etc/shadow; echo rc=$?");
      assert.match(r.out + r.err, /No such file|rc=1/);
      assert.doesNotMatch(r.out, /root:/);
    });

    test("2. a planted host secret outside the mounts is not there, nor /root, nor /home", async () => {
      const r = await sh(`cat ${hostSecretDir}/id_ed25519 2>&1; for p in /root /home ${base}/host-home ${profileDir}; do test -e $p && echo EXISTS $p; done; echo done`);
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.match(r.out, /No such file/);
      assert.doesNotMatch(r.out, /EXISTS/);
    });

    test("3. planted symlinks in the workspace lead nowhere", async () => {
      const r = await sh("cat key-link shadow-link profile-link/secrets.enc.yaml 2>&1; echo done");
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.doesNotMatch(r.out, /root:/);
    });

    test("4. a symlink made inside a writable mount cannot reach the host either", async () => {
      const rw = mkdtempSync(join(base, "rw-"));
      chmodSync(rw, 0o777);
      const r = await sh(`ln -s ${hostSecretDir}/id_ed25519 ${rw}/l && cat ${rw}/l 2>&1; ln -s /etc/shadow ${rw}/s && cat ${rw}/s 2>&1; echo done`, { mounts: [{ host: workspace, target: workspace, mode: "ro" }, { host: rw, target: rw, mode: "rw" }] });
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.doesNotMatch(r.out, /root:/);
    });

    test("5. /run, /var/run, the Docker socket, host devices and the run's own bundle are not there", async () => {
      const r = await sh(`for p in /run/docker.sock /var/run /var/run/docker.sock /run/dbus /dev/sda /dev/vda /dev/mem /dev/kmsg /dev/kvm ${runs} /etc/shadow; do test -e $p && echo EXISTS $p; done; echo /dev/*; echo /run/*`);
      assert.doesNotMatch(r.out, /EXISTS/, r.out);
      assert.doesNotMatch(r.out, /\/dev\/(sd|vd|nvme|mem|kmsg|kvm)/);
    });

    test("6. /etc holds no host users: passwd is the sandbox's own", async () => {
      const r = await sh("cat /etc/passwd; id");
      assert.match(r.out, /uid=1000\b/);
      assert.deepEqual(r.out.split("\n").filter((l) => l.includes(":x:")).map((l) => l.split(":")[0]), ["root", "sandbox", "nobody"]);
    });

    test("7. /proc shows only the sandbox's processes; host pids name nothing inside", async () => {
      const r = await sh(`echo /proc/[0-9]* | wc -w; kill -0 ${process.pid} 2>&1; echo rc=$?; cat /proc/1/cmdline | tr '\\0' ' '`);
      const [count] = r.out.trim().split("\n");
      assert.ok(Number(count) <= 5, `processes visible: ${count ?? "?"}`);
      assert.match(r.out, /rc=1/);
      assert.doesNotMatch(r.out, /systemd|init|node|runsc/);
    });
  });

  describe("writes", () => {
    test("8. the root, /usr, /etc and /bin are read-only", async () => {
      const r = await sh("for p in /x /usr/x /etc/x /bin/x /etc/passwd; do (echo hi >> $p) 2>/dev/null && echo WROTE $p; done; echo done");
      assert.doesNotMatch(r.out, /WROTE/);
    });

    test("9. a read-only mount cannot be written", async () => {
      const r = await sh(`echo pwned > ${workspace}/notes.txt; echo rc=$?; rm -f ${workspace}/notes.txt; touch ${workspace}/new 2>&1; echo done`);
      assert.match(r.out, /rc=[12]/);
      assert.equal(readFileSync(join(workspace, "notes.txt"), "utf8"), "workspace file\n");
      assert.equal(existsSync(join(workspace, "new")), false);
    });

    test("10. /tmp is private: the host's is not visible and the sandbox's is gone after the run", async () => {
      const name = `escape-${randomBytes(4).toString("hex")}`;
      const r = await sh(`echo /tmp/* ${base}/*; echo x > /tmp/${name} && echo ok`);
      assert.match(r.out, /ok/);
      // Only the mount point of the workspace exists under the scratch area; the host's /tmp around it is not there.
      assert.equal(r.out.split("\n")[0], `${base} ${workspace}`, "the host's /tmp (holding this test's secrets) is not the sandbox's");
      assert.equal(existsSync(`/tmp/${name}`), false);
    });
  });

  describe("network", () => {
    test("11. the host's loopback server is unreachable directly", async () => {
      const out = await perl(`use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => ${host.port()}, Timeout => 2); print $s ? "CONNECTED" : "failed: $!";`);
      assert.doesNotMatch(out, /CONNECTED/);
      assert.match(out, /failed/);
    });

    test("12. curl ignoring any proxy reaches nothing; the only interface is loopback", async () => {
      const r = await sh(`curl -sS --noproxy '*' --max-time 3 http://127.0.0.1:${host.port()}/ 2>&1; curl -sS --noproxy '*' --max-time 3 http://localhost:${host.port()}/ 2>&1; cat /proc/net/dev; echo rc=$?`);
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.doesNotMatch(r.out, /eth|ens|wlan|veth|tap/);
      assert.match(r.out, /\blo:/);
    });

    test("13. raw and packet sockets are refused", async () => {
      const out = await perl("use Socket; socket(my $r, PF_INET, SOCK_RAW, 1) or print \"raw:$!\\n\"; socket(my $p, 17, SOCK_RAW, 0) or print \"packet:$!\\n\";");
      assert.match(out, /raw:(Operation not permitted|Permission denied)/);
      assert.match(out, /packet:(Operation not permitted|Permission denied|Address family not supported)/);
    });
  });

  describe("kernel surface", () => {
    const attempts: [string, string][] = [
      ["14. ptrace attach to a sibling", "my $pid = fork(); if (!$pid) { sleep 5; exit } syscall(101, 16, $pid, 0, 0) == -1 and print \"errno=\", $!+0; kill 9, $pid;"],
      ["15. unshare a user namespace", "syscall(272, 0x10000000) == -1 and print \"errno=\", $!+0;"],
      ["16. mount a tmpfs", "my ($s, $t, $f) = (\"none\", \"/tmp\", \"tmpfs\"); syscall(165, $s, $t, $f, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["17. io_uring_setup", "my $p = \"\\0\" x 120; syscall(425, 8, $p) == -1 and print \"errno=\", $!+0;"],
      ["18. bpf", "syscall(321, 0, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["19. keyctl", "syscall(250, 0, 0, 0, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["20. perf_event_open", "my $a = \"\\0\" x 128; syscall(298, $a, 0, -1, -1, 0) == -1 and print \"errno=\", $!+0;"],
      ["21. init_module", "my $p = \"\"; syscall(175, 0, 0, $p) == -1 and print \"errno=\", $!+0;"],
      ["22. chroot", "my $d = \"/tmp\"; syscall(161, $d) == -1 and print \"errno=\", $!+0;"],
      ["23. setns", "syscall(308, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["24. personality(ADDR_NO_RANDOMIZE)", "syscall(135, 0x0040000) == -1 and print \"errno=\", $!+0;"],
    ];
    for (const [name, code] of attempts) {
      test(name, { skip: process.arch !== "x64" ? "syscall numbers in this test are x86_64's" : false }, async () => {
        assert.match(await perl(code), /errno=1\b/);
      });
    }

    test("25. no capabilities, no new privileges, seccomp on, uid 1000 (gVisor's procfs)", async () => {
      const r = await sh("grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|Seccomp|Uid|Gid):' /proc/self/status; perl -e 'print \"nnp=\", syscall(157, 39, 0, 0, 0, 0), \"\\n\"'");
      assert.match(r.out, /CapEff:\s+0000000000000000/);
      assert.match(r.out, /CapPrm:\s+0000000000000000/);
      assert.match(r.out, /CapBnd:\s+0000000000000000/);
      assert.match(r.out, /Seccomp:\s+2/);
      assert.match(r.out, /Uid:\s+1000\s+1000\s+1000\s+1000/);
      assert.match(r.out, /Gid:\s+1000\s/);
      assert.match(r.out, /nnp=1/, "PR_GET_NO_NEW_PRIVS");
    });

    test("26. a setuid-root binary inside does not give root", async () => {
      const r = await sh("su -c id root </dev/null 2>&1; id -u");
      assert.match(r.out, /^1000$/m);
      assert.doesNotMatch(r.out, /uid=0\(root\)/);
    });

    test("27. the tool talks to gVisor's kernel, not the host's", async () => {
      const r = await sh("uname -r; cat /proc/version");
      const hostRelease = spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout.trim();
      assert.doesNotMatch(r.out, new RegExp(hostRelease.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    });

    test("28. on the host, the Sentry serving the tool runs unprivileged under seccomp", { skip: isRoot ? false : "rootless: the Sentry runs as the calling user" }, async () => {
      const pending = sh("sleep 3");
      await new Promise((res) => setTimeout(res, 1200));
      const pids = spawnSync("pgrep", ["-f", `boot.*--bundle=${runs}`], { encoding: "utf8" }).stdout.trim().split("\n").filter((p) => p !== "");
      const statuses = pids.map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/status`, "utf8");
        } catch {
          return "";
        }
      });
      await pending;
      assert.ok(statuses.some((s) => s !== ""), "found the Sentry");
      for (const s of statuses.filter((x) => x !== "")) {
        assert.match(s, /Uid:\s+65534\s/);
        assert.match(s, /NoNewPrivs:\s+1/);
        assert.match(s, /Seccomp:\s+2/);
      }
    });
  });

  describe("resources and lifetime", () => {
    test("29. a process left behind dies when the action ends", async () => {
      const tag = `${30 + Math.floor(Math.random() * 1000)}.123`;
      const r = await sh(`(sleep ${tag} &) ; setsid sleep ${tag} & nohup sleep ${tag} >/dev/null 2>&1 & echo started`);
      assert.match(r.out, /started/);
      await new Promise((res) => setTimeout(res, 300));
      const left = spawnSync("pgrep", ["-f", `sleep ${tag}`], { encoding: "utf8" });
      assert.equal(left.stdout.trim(), "", "no orphan survives on the host");
      const sandboxes = spawnSync("pgrep", ["-f", runs], { encoding: "utf8" });
      assert.equal(sandboxes.stdout.trim(), "", "no runsc, gofer or Sentry of the run is left");
    });

    test("30. a fork bomb hits the process limit and the run still ends", async () => {
      const out = await perl("my $n = 0; for (1..400) { my $p = fork(); if (!defined $p) { print \"fork failed after $n: $!\\n\"; last } if (!$p) { sleep 3; exit } $n++ } print \"forked $n\\n\";", { limits: { ...LIMITS, pids: 32 } });
      assert.match(out, /fork failed after \d+/);
      const n = Number(/after (\d+)/.exec(out)?.[1]);
      assert.ok(n < 32, `forked ${n}`);
    });

    test("31. a thread bomb counts against the same limit", async () => {
      const r = await backend.run(spec(["/usr/bin/python3", "-c", "import threading, time\nn = 0\ntry:\n    for i in range(500):\n        threading.Thread(target=time.sleep, args=(3,), daemon=True).start(); n += 1\nexcept Exception as e:\n    print('failed after', n, e)\nprint('threads', n)"], { limits: { ...LIMITS, pids: 32 } }));
      const out = r.stdout.toString();
      assert.match(out, /failed after \d+/);
      assert.ok(Number(/threads (\d+)/.exec(out)?.[1]) < 32, out);
    });

    test("32. a memory bomb is stopped at the memory limit", async () => {
      const r = await backend.run(spec(["/usr/bin/perl", "-e", "my $x = 'x' x (1024*1024*1024); print length($x);"], { limits: { ...LIMITS, memoryMb: 128 } }));
      assert.notEqual(r.exitCode, 0);
      assert.doesNotMatch(r.stdout.toString(), /1073741824/);
      if (cgroupSupport().mode !== "none") assert.ok(r.violations.some((v) => v.kind === "memory"), JSON.stringify(r.violations));
    });

    test("33. an output flood is cut at the limit and counted", async () => {
      const r = await backend.run(spec(["/bin/sh", "-c", "head -c 20000000 /dev/zero"], { limits: { ...LIMITS, outputBytes: 100_000 } }));
      assert.equal(r.stdout.length, 100_000);
      assert.ok(r.droppedBytes.stdout > 19_000_000);
      assert.ok(r.violations.some((v) => v.kind === "output-truncated"));
    });

    test("34. the time limit kills the whole tree, even one that closed its output", async () => {
      const started = Date.now();
      const r = await backend.run(spec(["/bin/sh", "-c", "exec >&- 2>&-; sleep 30 & sleep 30"], { limits: { ...LIMITS, timeoutMs: 700 } }));
      assert.ok(Date.now() - started < 6000, "returned promptly");
      assert.ok(r.violations.some((v) => v.kind === "timeout"));
      assert.notEqual(r.exitCode, 0);
      assert.deepEqual(readdirSync(runs), [], "bundle and state removed");
    });

    test("35. another action's secret environment cannot be read", async () => {
      const secret = `tok-${randomBytes(12).toString("hex")}`;
      const a = backend.run(spec(["/bin/sh", "-c", "sleep 2"], { env: { PATH: "/usr/bin:/bin", API_TOKEN: secret } }));
      await new Promise((res) => setTimeout(res, 500));
      const b = await sh("cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ps -eo args 2>/dev/null; true");
      await a;
      assert.doesNotMatch(b.out, new RegExp(secret));
    });

    test("36. the environment is exactly what was given", async () => {
      const r = await sh("env | sort", { env: { PATH: "/usr/bin:/bin", ONLY_THIS: "1" } });
      const names = r.out.trim().split("\n").map((l) => l.split("=")[0]).filter((n) => n !== "PWD" && n !== "SHLVL" && n !== "_");
      assert.deepEqual(names.sort(), ["HOME", "ONLY_THIS", "PATH"]);
    });
  });

  describe("with AegisClaw unprivileged (runsc --rootless)", { skip: isRoot ? false : "already running unprivileged: the cases above cover it" }, () => {
    /** Runs the backend in a Node process as uid 65534 and returns what the tool printed. */
    function unprivileged(script: string, limits: Partial<Limits> = {}): Promise<string> {
      const dir = mkdtempSync(join(base, "nobody-"));
      chmodSync(dir, 0o777);
      const driver = join(dir, "driver.ts");
      const source = new URL("../../../src/sandbox/gvisor.ts", import.meta.url).pathname;
      writeFileSync(
        driver,
        `import { GVisorBackend } from ${JSON.stringify(source)};
const b = new GVisorBackend({ workDir: ${JSON.stringify(dir)} });
const r = await b.run({ argv: ["/bin/sh", "-c", ${JSON.stringify(script)}], cwd: "/", env: { PATH: "/usr/bin:/bin" }, mounts: [], network: { mode: "none" }, limits: ${JSON.stringify({ ...LIMITS, ...limits })} });
process.stdout.write(r.stdout.toString() + r.stderr.toString());
`,
        { mode: 0o644 },
      );
      return new Promise((resolve, reject) => {
        const child = spawn("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, driver], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: "/usr/bin:/bin", HOME: dir } });
        let out = "";
        child.stdout.on("data", (b: Buffer) => (out += b.toString()));
        child.stderr.on("data", (b: Buffer) => (out += b.toString()));
        child.on("error", reject);
        child.on("close", () => {
          resolve(out);
        });
      });
    }

    test("37. rootless runs, and the sandbox is the same: uid 1000, no capabilities, seccomp", async () => {
      const out = await unprivileged("id -u; grep -E '^(CapEff|Seccomp):' /proc/self/status");
      assert.match(out, /^1000$/m, out);
      assert.match(out, /CapEff:\s+0{16}/);
      assert.match(out, /Seccomp:\s+2/);
    });

    test("38. rootless: host files, the loopback server and user namespaces stay out of reach; forks are bounded", async () => {
      const out = await unprivileged(
        `cat /etc/shadow ${hostSecretDir}/id_ed25519 2>&1; curl -sS --noproxy '*' --max-time 2 http://127.0.0.1:${host.port()}/ 2>&1; unshare -U true 2>&1; perl -e 'my $n = 0; for (1..200) { my $p = fork(); if (!defined $p) { print "fork failed after $n\\n"; last } if (!$p) { sleep 2; exit } $n++ }'; echo done`,
        { pids: 24 },
      );
      assert.doesNotMatch(out, new RegExp(MARKER));
      assert.doesNotMatch(out, /root:/);
      assert.match(out, /unshare failed|Operation not permitted/);
      assert.match(out, /fork failed after \d+/);
      assert.match(out, /done/);
    });
  });
});
