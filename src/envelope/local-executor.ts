/**
 * Runs tools in this process, without a sandbox. In-process tools (reading a
 * workspace file, queueing an e-mail) are AegisClaw's own code and run here.
 * A tool that starts a process is refused unless the operator opted into
 * `--unsafe-host`, which the envelope records in the audit log.
 */
import { AegisError } from "../errors.ts";
import type { ExecutionRequest, Executor } from "./stages.ts";
import type { ToolOutput } from "./tool.ts";

export interface LocalExecutorOptions {
  readonly workspace: string;
  readonly dataDir: string;
  /** Allow tools that start processes to run on the host, unsandboxed. */
  readonly unsafeHost?: boolean;
}

export class LocalExecutor implements Executor {
  readonly name: string;
  readonly sandboxed = false;
  readonly #options: LocalExecutorOptions;

  constructor(options: LocalExecutorOptions) {
    this.#options = options;
    this.name = options.unsafeHost ? "local (--unsafe-host)" : "local (in-process tools only)";
  }

  async execute(req: ExecutionRequest): Promise<ToolOutput> {
    if (req.tool.spawnsProcess && !this.#options.unsafeHost) {
      throw new AegisError(
        "EXECUTOR_REFUSED",
        `${req.tool.name} starts a process and no sandbox backend is configured. Install bubblewrap (./setup does) and enable the sandbox, or pass --unsafe-host to run it on this machine without isolation (recorded in the audit log).`,
      );
    }
    return req.tool.run(req.action.args, { workspace: this.#options.workspace, dataDir: this.#options.dataDir, scopes: [...req.action.scopes, ...req.action.aliases], secrets: req.secrets, signal: req.signal });
  }
}
