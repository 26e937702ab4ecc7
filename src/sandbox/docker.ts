/**
 * The Docker backend: each run is `docker run` of an image pinned by digest,
 * with every hardening flag the engine offers:
 *
 *   docker run --rm --init --pull never --name aegisclaw-<uuid> --network none
 *     --cap-drop ALL --security-opt no-new-privileges --read-only
 *     --tmpfs /tmp:rw,noexec,nosuid,size=64m,uid=1000,gid=1000 --user 1000:1000
 *     --hostname sandbox --log-driver none --pids-limit N --memory Mm
 *     --memory-swap Mm --cpus C --ulimit core=0:0 --ulimit nofile=1024:4096
 *     [--ulimit fsize=B:B] [--ulimit cpu=S:S] [--runtime runsc]
 *     -v host:target:ro|rw … -w cwd --env-file FILE IMAGE argv…
 *
 * The engine's default seccomp profile stays on (it is an allowlist; nothing
 * here passes `seccomp=unconfined`). The environment goes through an env file
 * in a private directory, never `-e K=V`: values on the docker command line
 * would show in every host process listing (secrets among them), and values
 * in the CLI's own environment could steer the CLI (DOCKER_HOST, HOME and its
 * config.json). `--log-driver none` keeps the tool's output out of the
 * engine's log files. The Docker socket, or any socket under /run, is never
 * mounted: a container holding it owns the host.
 *
 * Not in this version: the egress proxy (a run asking for it is refused), and
 * reporting an OOM kill as a violation (`--rm` removes the record).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { AegisError } from "../errors.ts";
import { runScratchRoot } from "./layout.ts";
import type { BackendCapabilities, Mount, SandboxBackend, SandboxResult, SandboxSpec } from "./backend.ts";
import { SANDBOX_UID } from "./bubblewrap.ts";
import { runBoundedProcess } from "./process.ts";

/** `name[:tag]@sha256:<64 hex>`, the name as Docker spells references (registry host[:port]/path). */
const PINNED_IMAGE = /^[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:\/[a-z0-9][a-z0-9._-]*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$/;

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
const DEFAULT_CPUS = 1;
const DEFAULT_TMPFS_MB = 64;

export interface DockerOptions {
  /** The image, pinned by digest: `name@sha256:<64 hex>` (a tag may precede the digest; the digest decides). */
  readonly image: string;
  /** Run the container under gVisor (`--runtime runsc`; the engine must have it registered). */
  readonly runtime?: "runsc";
  /** CPUs the container may use (`--cpus`); default 1. */
  readonly cpus?: number;
  /** Size of the private /tmp in MiB; default 64. */
  readonly tmpfsMb?: number;
  /** The docker CLI; default found in /usr/bin, /usr/local/bin. */
  readonly docker?: string;
  /** DOCKER_HOST for the CLI (e.g. a rootless engine's socket); default the CLI's default. */
  readonly dockerHost?: string;
  /** How long `detect()` waits for the engine; default 5 s. */
  readonly detectTimeoutMs?: number;
}

export interface DockerRunOptions {
  readonly image: string;
  readonly runtime?: "runsc";
  readonly cpus?: number;
  readonly tmpfsMb?: number;
  /** The container's unique name (`docker kill` at the deadline). */
  readonly name: string;
  /** Path of the env file holding `dockerEnvFileText(spec)`. */
  readonly envFile: string;
}

/** Refuses an image not pinned by digest, with what to write instead. */
export function checkPinnedImage(image: string): void {
  if (!PINNED_IMAGE.test(image)) {
    throw new AegisError(
      "EXECUTOR_REFUSED",
      `The docker sandbox runs only images pinned by digest (name@sha256:<64 hex digits>), got ${JSON.stringify(image)}. A tag can be moved to other content at any time; pin it: docker pull ${image.split("@")[0] ?? image} && docker image inspect --format '{{index .RepoDigests 0}}' ${image.split("@")[0] ?? image}. Nothing ran.`,
    );
  }
}

/** Host paths that reach the Docker engine (or other daemons) and must never be mounted. */
const DAEMON_DIRS = ["/run", "/var/run"];
const DOCKER_SOCKETS = ["/run/docker.sock", "/var/run/docker.sock"];

function refuseMount(m: Mount, why: string): never {
  throw new AegisError("EXECUTOR_REFUSED", `the docker sandbox will not mount ${m.host} (→ ${m.target}): ${why}. Nothing ran.`);
}

/** Every spelling of the host path worth checking: as given and, when it exists, with links resolved. */
function hostSpellings(host: string): string[] {
  const out = [host];
  try {
    if (existsSync(host)) out.push(realpathSync(host));
  } catch {
    // Unresolvable: the path as given is checked.
  }
  return out;
}

function checkMount(m: Mount): void {
  for (const [path, what] of [[m.host, "host path"], [m.target, "target"]] as const) {
    if (!path.startsWith("/") || posix.normalize(path) !== path || (path.length > 1 && path.endsWith("/"))) refuseMount(m, `the ${what} must be an absolute, normalized path`);
    // `-v host:target:mode` cannot carry these.
    if (/[:,\n\r\0]/.test(path)) refuseMount(m, `the ${what} contains ':' ',' or a line break, which docker's -v syntax cannot carry`);
  }
  for (const host of hostSpellings(m.host)) {
    if (DOCKER_SOCKETS.includes(host) || posix.basename(host) === "docker.sock") refuseMount(m, "it is the Docker engine's socket; a container holding it controls the host");
    if (DAEMON_DIRS.some((d) => host.startsWith(`${d}/`)) && host.endsWith(".sock")) refuseMount(m, "it is a daemon's socket under /run");
    // A directory holding the engine's socket is as good as the socket.
    if (DOCKER_SOCKETS.some((s) => s.startsWith(`${host}/`)) || host === "/") refuseMount(m, "it contains the Docker engine's socket");
  }
  if (m.target === "/" || m.target === "/proc" || m.target.startsWith("/proc/") || m.target === "/tmp") refuseMount(m, `a mount may not replace ${m.target} in the container`);
}

/** The env file `docker run --env-file` reads: exactly the spec's environment, plus HOME and PATH defaults. */
export function dockerEnvFileText(spec: SandboxSpec): string {
  const lines: string[] = [];
  const env: Record<string, string> = { ...spec.env };
  if (!("HOME" in env)) env.HOME = "/tmp";
  if (!("PATH" in env)) env.PATH = DEFAULT_PATH;
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) throw new AegisError("EXECUTOR_REFUSED", `environment variable name ${JSON.stringify(k)} cannot be passed to docker (letters, digits, '_', '.', '-' only); nothing ran`);
    if (/[\n\r\0]/.test(v)) throw new AegisError("EXECUTOR_REFUSED", `environment variable ${k} holds a line break or NUL, which docker's env file cannot carry; pass it as a file instead. Nothing ran.`);
    lines.push(`${k}=${v}`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new AegisError("EXECUTOR_REFUSED", `${what} must be a positive whole number, got ${value}; nothing ran`);
  return value;
}

/** The `docker` arguments for a spec (everything after `docker`); pure. */
export function dockerRunArgs(spec: SandboxSpec, options: DockerRunOptions): string[] {
  checkPinnedImage(options.image);
  if (spec.argv.length === 0) throw new AegisError("EXECUTOR_REFUSED", "nothing to run: argv is empty");
  if (spec.network.mode !== "none") throw new AegisError("EXECUTOR_REFUSED", "the docker backend supports no network in this version, not even through the egress proxy; use the bubblewrap or gvisor backend for tools that need the network. Nothing ran.");
  if (!spec.cwd.startsWith("/") || posix.normalize(spec.cwd) !== spec.cwd) throw new AegisError("EXECUTOR_REFUSED", `the working directory must be an absolute, normalized path, got ${JSON.stringify(spec.cwd)}; nothing ran`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.name)) throw new AegisError("EXECUTOR_REFUSED", `invalid container name ${JSON.stringify(options.name)}`);
  const cpus = options.cpus ?? DEFAULT_CPUS;
  if (!(cpus > 0) || !Number.isFinite(cpus)) throw new AegisError("EXECUTOR_REFUSED", `cpus must be a positive number, got ${cpus}`);
  const tmpfsMb = positiveInteger(options.tmpfsMb ?? DEFAULT_TMPFS_MB, "tmpfsMb");
  const id = String(SANDBOX_UID);
  const args = [
    "run",
    "--rm",
    "--init",
    "--pull",
    "never",
    "--name",
    options.name,
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--read-only",
    "--tmpfs",
    `/tmp:rw,noexec,nosuid,size=${tmpfsMb}m,uid=${id},gid=${id}`,
    "--user",
    `${id}:${id}`,
    "--hostname",
    "sandbox",
    "--log-driver",
    "none",
    "--cpus",
    String(cpus),
    "--ulimit",
    "core=0:0",
    "--ulimit",
    "nofile=1024:4096",
  ];
  const limits = spec.limits;
  if (limits.pids !== undefined) args.push("--pids-limit", String(positiveInteger(limits.pids, "the process limit")));
  if (limits.memoryMb !== undefined) {
    const m = `${positiveInteger(limits.memoryMb, "the memory limit")}m`;
    // memory-swap equal to memory: no swap on top of the limit.
    args.push("--memory", m, "--memory-swap", m);
  }
  if (limits.fileSizeMb !== undefined) {
    const bytes = positiveInteger(limits.fileSizeMb, "the file size limit") * 1024 * 1024;
    args.push("--ulimit", `fsize=${bytes}:${bytes}`);
  }
  if (limits.cpuSeconds !== undefined) {
    const s = positiveInteger(limits.cpuSeconds, "the CPU-seconds limit");
    args.push("--ulimit", `cpu=${s}:${s}`);
  }
  if (options.runtime !== undefined) {
    // Options may come from an untyped config file: check what the type promises.
    const runtime: string = options.runtime;
    if (runtime !== "runsc") throw new AegisError("EXECUTOR_REFUSED", `unknown docker runtime ${JSON.stringify(runtime)}; only runsc is supported`);
    args.push("--runtime", "runsc");
  }
  if (spec.stdin !== undefined) args.push("--interactive");
  for (const m of spec.mounts) {
    checkMount(m);
    args.push("--volume", `${m.host}:${m.target}:${m.mode}`);
  }
  // What policy does not let the action see inside a mount: an empty read-only tmpfs over a directory, /dev/null over anything else.
  for (const path of spec.hide ?? []) {
    if (path.includes(":") || path.includes(",")) throw new AegisError("EXECUTOR_REFUSED", `cannot hide ${JSON.stringify(path)} in a docker mount (":" or "," in the path); nothing ran`);
    let dir: boolean;
    try {
      dir = lstatSync(path).isDirectory();
    } catch {
      continue;
    }
    if (dir) args.push("--tmpfs", `${path}:ro,noexec,nosuid,nodev,size=4k`);
    else args.push("--volume", `/dev/null:${path}:ro`);
  }
  args.push("--workdir", spec.cwd, "--env-file", options.envFile, options.image, ...spec.argv);
  return args;
}

const SEARCH_PATH = ["/usr/bin", "/usr/local/bin", "/bin"];

function findDocker(): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = join(dir, "docker");
    if (existsSync(p)) return p;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.trim().split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
}

export class DockerBackend implements SandboxBackend {
  readonly name = "docker" as const;
  readonly #o: DockerOptions;
  readonly #docker: string | undefined;

  constructor(options: DockerOptions) {
    this.#o = options;
    this.#docker = options.docker ?? findDocker();
  }

  #env(): NodeJS.ProcessEnv {
    return { PATH: "/usr/bin:/bin:/usr/local/bin", ...(this.#o.dockerHost === undefined ? {} : { DOCKER_HOST: this.#o.dockerHost }) };
  }

  #cli(args: readonly string[], timeoutMs: number): { status: number | null; stdout: string; stderr: string; error?: Error } {
    const docker = this.#docker;
    if (docker === undefined) return { status: null, stdout: "", stderr: "", error: new Error("docker CLI not found") };
    const r = spawnSync(docker, args, { encoding: "utf8", timeout: timeoutMs, env: this.#env() });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, ...(r.error === undefined ? {} : { error: r.error }) };
  }

  detect(): Promise<BackendCapabilities> {
    const none = { filesystem: false, network: false, seccomp: false, memory: false, pids: false, nonRootUser: false };
    if (this.#docker === undefined) return Promise.resolve({ available: false, notes: ["the docker CLI is not installed (Debian: apt-get install docker.io)"], enforces: none });
    const timeout = this.#o.detectTimeoutMs ?? 5000;
    const version = this.#cli(["version", "--format", "{{.Server.Version}}"], timeout);
    if (version.status !== 0 || version.stdout.trim() === "") {
      const info = this.#cli(["info", "--format", "{{.ServerVersion}}"], timeout);
      const why = firstLine(info.stderr) || firstLine(version.stderr) || (version.error?.message ?? info.error?.message ?? `exit ${version.status}`);
      return Promise.resolve({ available: false, notes: [`no Docker engine is running (docker info: ${why})`], enforces: none });
    }
    const serverVersion = version.stdout.trim();
    const notes: string[] = [];
    try {
      checkPinnedImage(this.#o.image);
    } catch (err) {
      return Promise.resolve({ available: false, version: serverVersion, notes: [(err as Error).message], enforces: none });
    }
    const image = this.#cli(["image", "inspect", "--format", "{{.Id}}", this.#o.image], timeout);
    if (image.status !== 0) return Promise.resolve({ available: false, version: serverVersion, notes: [`the image ${this.#o.image} is not on this engine (runs never pull); docker pull ${this.#o.image}`], enforces: none });
    if (this.#o.runtime === "runsc") {
      const runtimes = this.#cli(["info", "--format", "{{json .Runtimes}}"], timeout);
      if (!runtimes.stdout.includes('"runsc"')) return Promise.resolve({ available: false, version: serverVersion, notes: ["the engine has no runsc runtime registered (runsc install, then restart dockerd)"], enforces: none });
      notes.push("runtime runsc: the engine's seccomp profile is not applied inside gVisor; gVisor's Sentry is the boundary");
    }
    notes.push("network: none only (the egress proxy is not supported by the docker backend in this version)");
    return Promise.resolve({ available: true, version: serverVersion, notes, enforces: { filesystem: true, network: true, seccomp: true, memory: true, pids: true, nonRootUser: true } });
  }

  async run(spec: SandboxSpec): Promise<SandboxResult> {
    const docker = this.#docker;
    if (docker === undefined) throw new AegisError("EXECUTOR_REFUSED", "the docker CLI is not installed (Debian: apt-get install docker.io). Nothing ran.");
    if (spec.signal?.aborted === true) throw new AegisError("EXECUTOR_REFUSED", "the action was cancelled before it started; nothing ran");
    const name = `aegisclaw-${randomUUID()}`;
    const dir = mkdtempSync(join(runScratchRoot(), "aegisclaw-docker-"));
    try {
      const envFile = join(dir, "env");
      const args = dockerRunArgs(spec, { ...this.#o, name, envFile });
      writeFileSync(envFile, dockerEnvFileText(spec), { mode: 0o600 });
      const env = this.#env();
      const result = await runBoundedProcess([docker, ...args], spec, {
        // The container lives in the engine, not under the CLI: kill it by name, then the CLI.
        kill: () => {
          spawn(docker, ["kill", name], { stdio: "ignore", env }).on("error", () => undefined).unref();
        },
        groupKillDelayMs: 2000,
      });
      if (result.killed) {
        await new Promise<void>((resolve) => {
          spawn(docker, ["rm", "--force", name], { stdio: "ignore", env, timeout: 15_000 })
            .on("error", () => {
              resolve();
            })
            .on("close", () => {
              resolve();
            });
        });
      }
      // 125: docker itself failed (no engine, image missing, bad flag); nothing ran.
      const stderr = result.stderr.toString("utf8");
      if (result.exitCode === 125 && !result.killed && /^docker: /m.test(stderr)) throw new AegisError("EXECUTOR_REFUSED", `the Docker engine could not start the container: ${firstLine(stderr.replace(/^docker: /m, ""))}. Nothing ran.`);
      const { killed: _killed, ...rest } = result;
      return { ...rest, backend: "docker" };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
