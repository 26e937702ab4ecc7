/** AegisClaw's library surface: the envelope and its stages, policy, audit, and the composition root. */
export * from "./errors.ts";
export * from "./envelope/index.ts";
export * from "./policy/index.ts";
export * from "./audit/index.ts";
export { KnownSecretRedactor, secretForms, type Redactor, type RedactionResult } from "./guard/redact.ts";
export { openRuntime, type Runtime, type RuntimeOptions } from "./runtime.ts";
export { initProfile, openProfile, type Profile } from "./config/profile.ts";
export { profilePaths, defaultProfileHome, type ProfilePaths } from "./config/paths.ts";
