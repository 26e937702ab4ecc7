/**
 * Sandboxes: one interface (`./backend.ts`), backends per mechanism, the
 * executor that runs tools' processes in them, and the egress proxy.
 */
import { AegisError } from "../errors.ts";
import type { SandboxBackend } from "./backend.ts";
import { BubblewrapBackend } from "./bubblewrap.ts";

export type { BackendCapabilities, BackendName, Limits, Mount, NetworkSpec, SandboxBackend, SandboxResult, SandboxSpec, Violation } from "./backend.ts";
export { BubblewrapBackend } from "./bubblewrap.ts";
export { SandboxExecutor, DEFAULT_LIMITS, type EgressAuditEvent, type SandboxExecutorOptions } from "./executor.ts";

export type SandboxBackendChoice = "auto" | "bubblewrap" | "gvisor" | "docker";

/** The backend for a configuration choice. `auto` is bubblewrap: it needs no daemon and starts fastest. */
export function sandboxBackend(choice: SandboxBackendChoice): SandboxBackend {
  switch (choice) {
    case "auto":
    case "bubblewrap":
      return new BubblewrapBackend();
    case "gvisor":
    case "docker":
      throw new AegisError("CONFIG_INVALID", `The ${choice} sandbox backend is not available in this version of AegisClaw; use bubblewrap (sandbox.backend: bubblewrap in config.yaml, or --backend bwrap).`);
  }
}
