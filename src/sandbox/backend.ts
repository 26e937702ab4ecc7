/**
 * One interface for every sandbox: bubblewrap, gVisor (runsc), Docker.
 *
 * A backend first says what this machine lets it enforce (`detect`); `run`
 * then either enforces every guarantee the spec asks for or refuses with the
 * reason. It never degrades silently: a spec asking for a memory limit on a
 * machine without cgroup control is a refusal, not a run without the limit.
 */

export type BackendName = "bubblewrap" | "gvisor" | "docker";

/** A host path made visible inside the sandbox. */
export interface Mount {
  /** Absolute, canonical host path. */
  readonly host: string;
  /** Absolute path inside the sandbox. */
  readonly target: string;
  readonly mode: "ro" | "rw";
}

export type NetworkSpec =
  /** An empty network namespace: no interface but loopback. */
  | { readonly mode: "none" }
  /**
   * Only through the egress proxy: `socket` is the proxy's UNIX socket on the
   * host; the backend makes it reachable inside and points HTTP(S)_PROXY at it.
   */
  | { readonly mode: "proxy"; readonly socket: string };

export interface Limits {
  /** Wall-clock limit; the whole process tree is killed at the deadline. */
  readonly timeoutMs: number;
  /** Address-space / memory limit in MiB (undefined: backend default). */
  readonly memoryMb?: number;
  /** Most processes/threads the sandbox may hold at once. */
  readonly pids?: number;
  /** Bytes kept of stdout and of stderr each; the rest is counted and dropped. */
  readonly outputBytes: number;
  /** CPU seconds (RLIMIT_CPU). */
  readonly cpuSeconds?: number;
  /** Largest file the tool may write, in MiB (RLIMIT_FSIZE). */
  readonly fileSizeMb?: number;
}

export interface SandboxSpec {
  readonly argv: readonly string[];
  /** Working directory inside the sandbox. */
  readonly cwd: string;
  /** The complete environment: nothing of the host's environment is passed unless listed here. */
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly Mount[];
  readonly network: NetworkSpec;
  /**
   * Paths inside the mounts that must not be visible: a directory becomes an
   * empty read-only tmpfs, anything else `/dev/null`. The executor fills this
   * with what policy denies under a mount (credential stores, the profile,
   * `.env` files) and with sockets and devices.
   */
  readonly hide?: readonly string[];
  readonly limits: Limits;
  /** Standard input for the tool (default: empty). */
  readonly stdin?: string | Buffer;
  readonly signal?: AbortSignal;
  /** Called with each chunk of output as it arrives (already bounded by `limits.outputBytes`). */
  readonly onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
}

/** Something the sandbox stopped or cut short, in words a user understands. */
export interface Violation {
  readonly kind: "timeout" | "memory" | "pids" | "output-truncated" | "signal" | "network" | "refused";
  readonly message: string;
}

export interface SandboxResult {
  /** The command's exit status; 128 + n when killed by signal n (as a shell reports it). */
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** Bytes written beyond the limit and dropped. */
  readonly droppedBytes: { readonly stdout: number; readonly stderr: number };
  readonly durationMs: number;
  readonly violations: readonly Violation[];
  readonly backend: BackendName;
}

export interface BackendCapabilities {
  readonly available: boolean;
  /** Why the backend is unavailable, or what it cannot enforce here. */
  readonly notes: readonly string[];
  readonly version?: string;
  /** Guarantees this machine lets the backend enforce. */
  readonly enforces: {
    readonly filesystem: boolean;
    readonly network: boolean;
    readonly seccomp: boolean;
    readonly memory: boolean;
    readonly pids: boolean;
    readonly nonRootUser: boolean;
  };
}

export interface SandboxBackend {
  readonly name: BackendName;
  detect(): Promise<BackendCapabilities>;
  /** Runs the spec with every guarantee it asks for, or throws EXECUTOR_REFUSED saying which one cannot be met. */
  run(spec: SandboxSpec): Promise<SandboxResult>;
}

