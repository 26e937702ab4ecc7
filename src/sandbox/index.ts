/**
 * Sandboxes: one interface (`./backend.ts`), backends per mechanism, the
 * executor that runs tools' processes in them, and the egress proxy.
 */
import { AegisError } from "../errors.ts";
import type { SandboxBackend } from "./backend.ts";
import { BubblewrapBackend } from "./bubblewrap.ts";
import { DockerBackend } from "./docker.ts";
import { GVisorBackend } from "./gvisor.ts";

export type { BackendCapabilities, BackendName, Limits, Mount, NetworkSpec, SandboxBackend, SandboxResult, SandboxSpec, Violation } from "./backend.ts";
export { BubblewrapBackend } from "./bubblewrap.ts";
export { DockerBackend } from "./docker.ts";
export { GVisorBackend } from "./gvisor.ts";
export { SandboxExecutor, DEFAULT_LIMITS, type EgressAuditEvent, type SandboxExecutorOptions } from "./executor.ts";

export type SandboxBackendChoice = "auto" | "bubblewrap" | "gvisor" | "docker";

export interface SandboxSettings {
  /** Docker image, pinned by digest (config.yaml sandbox.image). */
  readonly image?: string | undefined;
  readonly dockerRuntime?: "runc" | "runsc" | undefined;
}

/** The backend for a configuration choice. `auto` is bubblewrap: it needs no daemon and starts fastest. */
export function sandboxBackend(choice: SandboxBackendChoice, settings: SandboxSettings = {}): SandboxBackend {
  switch (choice) {
    case "auto":
    case "bubblewrap":
      return new BubblewrapBackend();
    case "gvisor":
      return new GVisorBackend();
    case "docker":
      if (settings.image === undefined) {
        throw new AegisError("CONFIG_INVALID", "The docker sandbox needs an image pinned by digest: set sandbox.image in config.yaml (name@sha256:…). Or use bubblewrap (--backend bwrap).");
      }
      return new DockerBackend({ image: settings.image, ...(settings.dockerRuntime === "runsc" ? { runtime: "runsc" as const } : {}) });
  }
}
