/**
 * OpenClaw's tool names and the envelope tools they are. The agent offers the
 * model OpenClaw's names (so skills written for OpenClaw read naturally); the
 * envelope, policy and audit log use the envelope names. A skill's
 * `allowed-tools` may use either.
 */
export const OPENCLAW_TOOL_NAMES = {
  read: "files.read",
  write: "files.write",
  edit: "files.edit",
  exec: "shell.exec",
  web_fetch: "web.fetch",
  message: "message.send",
  load_skill: "skills.load",
} as const;

export type OpenClawToolName = keyof typeof OPENCLAW_TOOL_NAMES;

/** The envelope tool an OpenClaw or envelope tool name means (case-insensitive), or undefined. */
export function envelopeToolName(name: string): string | undefined {
  const n = name.trim().toLowerCase();
  if (Object.hasOwn(OPENCLAW_TOOL_NAMES, n)) return OPENCLAW_TOOL_NAMES[n as OpenClawToolName];
  return Object.values(OPENCLAW_TOOL_NAMES).find((v) => v === n);
}
