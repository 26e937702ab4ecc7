/**
 * Escape suite: a tool inside the bubblewrap sandbox tries to get out —
 * read host files, write outside its mounts, follow planted symlinks, reach
 * the host's loopback servers, use raw sockets, ptrace, io_uring, user
 * namespaces, mounts, outlive its action, exhaust processes, memory, output
 * and time, gain privileges, read another action's secrets. Every attempt
 * must fail. Runs for real (CI is root), and the core attempts again as an
 * unprivileged user (setpriv to uid 65534), where bwrap runs unprivileged.
 *
 * Network attempts target only loopback: the host's own servers on
 * 127.0.0.1 (which the sandbox's empty network namespace cannot reach).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Limits } from "../../../src/sandbox/backend.ts";
import { BubblewrapBackend, SANDBOX_UID } from "../../../src/sandbox/bubblewrap.ts";
import { buildSeccompFilter } from "../../../src/sandbox/seccomp.ts";
import { escapeHost, sandboxRunner } from "./fixture.ts";

const backend = new BubblewrapBackend();
const caps = await backend.detect();
const skip = caps.available ? false : `bubblewrap cannot run here: ${caps.notes.join("; ")}`;
const isRoot = process.getuid?.() === 0;

/** A private scratch area outside anything mounted: host files the sandbox must never see. */
const host = escapeHost("aegisclaw-escape-");
const { base, hostSecretDir, profileDir, workspace, marker: MARKER } = host;

before(() => host.setUp());
after(() => {
  host.tearDown();
});

const LIMITS: Limits = { timeoutMs: 15_000, outputBytes: 1 << 20, memoryMb: 512, pids: 128 };
const { spec, sh, perl } = sandboxRunner(backend, workspace, LIMITS);

describe("sandbox escape attempts (bubblewrap)", { skip }, () => {
  describe("host files", () => {
    test("1. /etc/shadow is not there", async () => {
      const r = await sh("cat /etc/shadow; echo rc=$?");
      assert.match(r.out + r.err, /No such file|rc=1/);
      assert.doesNotMatch(r.out, /root:/);
    });

    test("2. a host home's .ssh is not there, nor /root, nor /home", async () => {
      const r = await sh(`cat ${hostSecretDir}/id_ed25519; ls /root /home ${base}/host-home 2>&1; echo done`);
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.match(r.out, /No such file/);
    });

    test("3. the AegisClaw profile directory is not there", async () => {
      const r = await sh(`cat ${profileDir}/secrets.enc.yaml 2>&1; echo done`);
      assert.doesNotMatch(r.out, new RegExp(MARKER));
    });

    test("4. /proc shows only the sandbox's processes; no host environment", async () => {
      const r = await sh("ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c AEGIS_HOST_MARKER; true", {});
      const [count] = r.out.trim().split("\n");
      assert.ok(Number(count) <= 5, `processes visible: ${count ?? "?"}`);
      assert.doesNotMatch(r.out, /AEGIS_HOST_MARKER=/);
    });

    test("5. /run, /var/run, host sockets, /sys and block devices are not there", async () => {
      const r = await sh("ls -d /run/* /var/run /var/run/docker.sock /run/dbus /sys/kernel /dev/sda /dev/vda /dev/mem /dev/kmsg 2>&1; ls /dev");
      assert.doesNotMatch(r.out, /docker\.sock\s*$|dbus\s*$/m);
      for (const gone of ["/var/run", "/sys/kernel", "/dev/mem", "/dev/kmsg"]) assert.match(r.out, new RegExp(`${gone}.*No such file`));
      // /run holds only the sandbox's own directory.
      assert.doesNotMatch(r.out, /^\/run\/(?!aegisclaw)/m);
    });

    test("6. /etc holds no host users: passwd is the sandbox's own", async () => {
      const r = await sh("cat /etc/passwd; id");
      assert.match(r.out, new RegExp(`uid=${String(SANDBOX_UID)}\\b`));
      assert.deepEqual(r.out.split("\n").filter((l) => l.includes(":x:")).map((l) => l.split(":")[0]), ["root", "sandbox", "nobody"]);
    });
  });

  describe("writes", () => {
    test("7. the root, /usr and /etc are read-only", async () => {
      const r = await sh("for p in /x /usr/x /etc/x /bin/x; do (echo hi > $p) 2>/dev/null && echo WROTE $p; done; echo done");
      assert.doesNotMatch(r.out, /WROTE/);
    });

    test("8. a read-only mount cannot be written", async () => {
      const r = await sh(`echo pwned > ${workspace}/notes.txt; echo rc=$?`);
      assert.match(r.out, /rc=[12]/);
      assert.equal(readFileSync(join(workspace, "notes.txt"), "utf8"), "workspace file\n");
    });

    test("9. /tmp is private and gone after the run", async () => {
      const name = `escape-${randomBytes(4).toString("hex")}`;
      const r = await sh(`echo x > /tmp/${name} && echo ok`);
      assert.match(r.out, /ok/);
      assert.equal(existsSync(`/tmp/${name}`), false);
    });

    test("10. planted symlinks in the workspace lead nowhere", async () => {
      const r = await sh("cat key-link shadow-link profile-link/secrets.enc.yaml 2>&1; echo done");
      assert.doesNotMatch(r.out, new RegExp(MARKER));
      assert.doesNotMatch(r.out, /root:/);
    });

    test("11. a symlink made inside a writable mount cannot reach the host either", async () => {
      const rw = mkdtempSync(join(base, "rw-"));
      chmodSync(rw, 0o777);
      const r = await sh(`ln -s ${hostSecretDir}/id_ed25519 ${rw}/l && cat ${rw}/l 2>&1; echo done`, { mounts: [{ host: workspace, target: workspace, mode: "ro" }, { host: rw, target: rw, mode: "rw" }] });
      assert.doesNotMatch(r.out, new RegExp(MARKER));
    });
  });

  describe("network", () => {
    test("12. the host's loopback server is unreachable directly", async () => {
      const out = await perl(`use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => ${String(host.port())}, Timeout => 2); print $s ? "CONNECTED" : "failed: $!";`);
      assert.doesNotMatch(out, /CONNECTED/);
      assert.match(out, /failed/);
    });

    test("13. there is no interface but loopback and no route out", async () => {
      const r = await sh("cat /proc/net/route; cat /proc/net/dev");
      assert.equal(r.out.split("\n").filter((l) => /^\S+\t[0-9A-F]{8}/.test(l)).length, 0, r.out);
      assert.doesNotMatch(r.out, /eth|ens|wlan|veth|tap/);
    });

    test("14. curl ignoring any proxy reaches nothing (no DNS, no route)", async () => {
      const r = await sh(`curl -sS --noproxy '*' --max-time 3 http://127.0.0.1:${String(host.port())}/ 2>&1; curl -sS --noproxy '*' --max-time 3 http://localhost:${String(host.port())}/ 2>&1; echo rc=$?`);
      assert.doesNotMatch(r.out, new RegExp(MARKER));
    });

    test("15. raw and packet sockets are refused", async () => {
      const out = await perl("use Socket; socket(my $r, PF_INET, SOCK_RAW, 1) or print \"raw:$!\\n\"; socket(my $p, 17, SOCK_RAW, 0) or print \"packet:$!\\n\";");
      assert.match(out, /raw:Operation not permitted/);
      assert.match(out, /packet:Operation not permitted/);
    });
  });

  describe("kernel surface", () => {
    const attempts: [string, string][] = [
      ["16. ptrace attach to a sibling", "my $pid = fork(); if (!$pid) { sleep 5; exit } syscall(101, 16, $pid, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["17. io_uring_setup", "my $p = \"\\0\" x 120; syscall(425, 8, $p) == -1 and print \"errno=\", $!+0;"],
      ["18. unshare a user namespace", "syscall(272, 0x10000000) == -1 and print \"errno=\", $!+0;"],
      ["19. mount a tmpfs", "my ($s, $t, $f) = (\"none\", \"/tmp\", \"tmpfs\"); syscall(165, $s, $t, $f, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["20. bpf", "syscall(321, 0, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["21. keyctl", "syscall(250, 0, 0, 0, 0, 0) == -1 and print \"errno=\", $!+0;"],
      ["22. perf_event_open", "my $a = \"\\0\" x 128; syscall(298, $a, 0, -1, -1, 0) == -1 and print \"errno=\", $!+0;"],
      ["23. userfaultfd", "syscall(323, 0) == -1 and print \"errno=\", $!+0;"],
      ["24. init_module", "my $p = \"\"; syscall(175, 0, 0, $p) == -1 and print \"errno=\", $!+0;"],
      ["25. chroot", "my $d = \"/tmp\"; syscall(161, $d) == -1 and print \"errno=\", $!+0;"],
      ["26. setns", "syscall(308, 0, 0) == -1 and print \"errno=\", $!+0;"],
    ];
    for (const [name, code] of attempts) {
      test(name, { skip: process.arch !== "x64" ? "syscall numbers in this test are x86_64's (the filter itself is tested on both arches)" : false }, async () => {
        assert.match(await perl(code), /errno=1\b/);
      });
    }

    test("27. no capabilities, no new privileges, seccomp on, uid not 0", async () => {
      const r = await sh("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp|Uid):' /proc/self/status");
      assert.match(r.out, /CapEff:\s+0000000000000000/);
      assert.match(r.out, /CapBnd:\s+0000000000000000/);
      assert.match(r.out, /NoNewPrivs:\s+1/);
      assert.match(r.out, /Seccomp:\s+2/);
      assert.match(r.out, new RegExp(`Uid:\\s+${String(SANDBOX_UID)}\\b`));
    });

    test("28. a setuid-root binary inside does not give root", async () => {
      const r = await sh("ls -l /usr/bin/su /usr/bin/passwd 2>/dev/null; su -c id root </dev/null 2>&1; id -u");
      assert.match(r.out, new RegExp(`^${String(SANDBOX_UID)}$`, "m"));
      assert.doesNotMatch(r.out, /uid=0\(root\)/);
    });

    test("29. the terminal cannot be injected into (new session, TIOCSTI refused)", async () => {
      const out = await perl("open(my $t, '<', '/dev/tty') or print \"tty:$!\\n\"; my $c = 'x'; syscall(16, 0, 0x5412, $c) == -1 and print \"errno=\", $!+0;");
      assert.match(out, /tty:No such device or address|errno=(1|25)\b/);
    });

    test("30. /proc/sys and sysrq cannot be written", async () => {
      const r = await sh("(echo 1 > /proc/sys/kernel/sysrq) 2>&1 && echo WROTE-SYSRQ; (echo b > /proc/sysrq-trigger) 2>&1 && echo WROTE-TRIGGER; echo done");
      assert.doesNotMatch(r.out, /WROTE/);
      assert.match(r.out, /Read-only|Permission denied|No such file|nonexistent/);
    });

    test("31. host processes cannot be signalled (a pid from outside names nothing inside)", async () => {
      const r = await sh(`kill -0 ${String(process.pid)} 2>&1; echo rc=$?`);
      assert.match(r.out, /rc=1/);
    });

    test("32. hostname and cgroup are the sandbox's own", async () => {
      const r = await sh("hostname; cat /proc/self/cgroup");
      assert.match(r.out, /^sandbox$/m);
      assert.doesNotMatch(r.out, /process_api|aegisclaw-/);
    });
  });

  describe("resources and lifetime", () => {
    test("33. a process left behind dies when the action ends", async () => {
      const tag = `${String(30 + Math.floor(Math.random() * 1000))}.123`;
      const r = await sh(`(sleep ${tag} &) ; setsid sleep ${tag} & echo started`);
      assert.match(r.out, /started/);
      await new Promise((res) => setTimeout(res, 300));
      const left = spawnSync("pgrep", ["-f", `sleep ${tag}`], { encoding: "utf8" });
      assert.equal(left.stdout.trim(), "", "no orphan survives on the host");
    });

    test("34. a fork bomb hits the process limit and the run still ends", async () => {
      const r = await perl("my $n = 0; for (1..400) { my $p = fork(); if (!defined $p) { print \"fork failed after $n: $!\\n\"; last } if (!$p) { sleep 3; exit } $n++ } print \"forked $n\\n\";", { limits: { ...LIMITS, pids: 32 } });
      assert.match(r, /fork failed after \d+/);
      const n = Number(/after (\d+)/.exec(r)?.[1]);
      assert.ok(n < 32, `forked ${String(n)}`);
    });

    test("35. a memory bomb is stopped at the memory limit", async () => {
      const r = await backend.run(spec(["/usr/bin/perl", "-e", "my $x = 'x' x (1024*1024*1024); print length($x);"], { limits: { ...LIMITS, memoryMb: 128 } }));
      assert.notEqual(r.exitCode, 0);
      assert.doesNotMatch(r.stdout.toString(), /1073741824/);
    });

    test("36. an output flood is cut at the limit and counted", async () => {
      const r = await backend.run(spec(["/bin/sh", "-c", "head -c 20000000 /dev/zero"], { limits: { ...LIMITS, outputBytes: 100_000 } }));
      assert.equal(r.stdout.length, 100_000);
      assert.ok(r.droppedBytes.stdout > 19_000_000);
      assert.ok(r.violations.some((v) => v.kind === "output-truncated"));
    });

    test("37. the time limit kills the whole tree", async () => {
      const started = Date.now();
      const r = await backend.run(spec(["/bin/sh", "-c", "sleep 30 & sleep 30"], { limits: { ...LIMITS, timeoutMs: 700 } }));
      assert.ok(Date.now() - started < 5000, "returned promptly");
      assert.ok(r.violations.some((v) => v.kind === "timeout"));
      assert.notEqual(r.exitCode, 0);
    });

    test("38. another action's secret environment cannot be read", async () => {
      const secret = `tok-${randomBytes(12).toString("hex")}`;
      const a = backend.run(spec(["/bin/sh", "-c", "sleep 2"], { env: { PATH: "/usr/bin:/bin", API_TOKEN: secret } }));
      await new Promise((res) => setTimeout(res, 300));
      const b = await sh("cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ps -eo args 2>/dev/null; true");
      await a;
      assert.doesNotMatch(b.out, new RegExp(secret));
    });

    test("38b. secrets given to a run are not in the host's process list (bwrap reads its arguments from a pipe)", async () => {
      const secret = `tok-${randomBytes(12).toString("hex")}`;
      const running = backend.run(spec(["/bin/sh", "-c", "sleep 1"], { env: { PATH: "/usr/bin:/bin", API_TOKEN: secret } }));
      await new Promise((res) => setTimeout(res, 300));
      const listing = spawnSync("ps", ["-eww", "-o", "args"], { encoding: "utf8" }).stdout;
      await running;
      assert.ok(listing.includes("bwrap"), "the sandbox was running while the list was taken");
      assert.doesNotMatch(listing, new RegExp(secret));
    });

    test("39. the environment is exactly what was given (cleared)", async () => {
      const r = await sh("env | sort", { env: { PATH: "/usr/bin:/bin", ONLY_THIS: "1" } });
      const names = r.out.trim().split("\n").map((l) => l.split("=")[0]).filter((n) => n !== "PWD" && n !== "SHLVL" && n !== "_");
      assert.deepEqual(names.sort(), ["HOME", "ONLY_THIS", "PATH"]);
    });

    test("40. a process that closes its output and runs on is still stopped at the deadline", async () => {
      const started = Date.now();
      const r = await backend.run(spec(["/bin/sh", "-c", "exec >&- 2>&-; sleep 30"], { limits: { ...LIMITS, timeoutMs: 700 } }));
      assert.ok(Date.now() - started < 5000);
      assert.ok(r.violations.some((v) => v.kind === "timeout"));
    });
  });

  describe("as an unprivileged user (bwrap without root)", { skip: isRoot ? false : "already running unprivileged: the cases above cover it" }, () => {
    /** bwrap started as uid 65534 with the same arguments and seccomp program the backend uses. */
    function unprivileged(script: string): Promise<string> {
      const args = backend.bwrapArgs(spec(["/bin/sh", "-c", script]));
      return new Promise((resolve, reject) => {
        const child = spawn("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/usr/bin/bwrap", ...args], { stdio: ["ignore", "pipe", "pipe", "pipe"], env: { PATH: "/usr/bin:/bin" } });
        let out = "";
        child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
        child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
        (child.stdio[3] as NodeJS.WritableStream).end(buildSeccompFilter());
        child.on("error", reject);
        child.on("close", () => {
          resolve(out);
        });
      });
    }

    test("41. bwrap works unprivileged here, and the sandbox is the same", async () => {
      const out = await unprivileged("id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status");
      assert.match(out, new RegExp(`^${String(SANDBOX_UID)}$`, "m"), out);
      assert.match(out, /CapEff:\s+0{16}/);
      assert.match(out, /Seccomp:\s+2/);
    });

    test("42. unprivileged: host files, the loopback server and user namespaces stay out of reach", async () => {
      const out = await unprivileged(`cat /etc/shadow ${hostSecretDir}/id_ed25519 2>&1; curl -sS --noproxy '*' --max-time 2 http://127.0.0.1:${String(host.port())}/ 2>&1; unshare -U true 2>&1; echo done`);
      assert.doesNotMatch(out, new RegExp(MARKER));
      assert.doesNotMatch(out, /root:/);
      assert.match(out, /unshare failed|Operation not permitted/);
    });
  });
});
