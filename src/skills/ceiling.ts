/**
 * The ceiling of a skill: what an action taken on a skill's behalf may touch
 * at most, from what its SKILL.md declares (the grant). Policy decides whether
 * an action runs; the ceiling only takes away — a skill's own policy rules and
 * secrets can never reach past what it declares. An action on behalf of a skill:
 *
 *  - uses only tools its `allowed-tools` names (OpenClaw or envelope names);
 *  - runs only the programs of `requires.bins`/`anyBins` (`shell.exec:<bin>`,
 *    called by that bare name, found on the trusted PATH);
 *  - reads and writes files in the workspace (every OpenClaw skill works
 *    there), under its declared mounts (writes only under `rw` ones) and
 *    declared `files.*` scopes;
 *  - reaches only hosts in `network.allow` (or declared net.* scopes);
 *  - loads only its own instructions; any other scope must be declared exactly.
 *
 * For the owner's own command (`aegisclaw exec --skill`), the directories and
 * hosts are the owner's to give: only the tool and program limits apply.
 */
import type { Scope } from "../policy/scope.ts";
import { envelopeToolName } from "../tools/openclaw-names.ts";
import type { LoadedSkill } from "./catalog.ts";

export interface CeilingAction {
  readonly tool: string;
  readonly scopes: readonly Scope[];
  readonly actor: string;
}

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** Why the action exceeds what the skill declares, or undefined when it stays within it. */
export function exceedsSkill(skill: LoadedSkill, action: CeilingAction, workspace: string): string | undefined {
  const name = skill.name;
  // "unknown" means only secrets the catalog could not check stand in the way: the broker checks those itself.
  if (skill.status.state === "inactive") {
    return `skill ${name} is not active (${skill.status.reasons.map((r) => r.message).join("; ") || "see aegisclaw skills list"}), so nothing runs on its behalf`;
  }
  if (skill.disableModelInvocation && action.actor.startsWith("model:")) {
    return `skill ${name} sets disable-model-invocation: only the owner acts on its behalf, not a model`;
  }
  const allowed = skill.grant.tools;
  if (allowed !== undefined) {
    const tools = new Set(allowed.map((t) => envelopeToolName(t) ?? t.toLowerCase()));
    if (!tools.has(action.tool)) return `skill ${name} may use only the tools its allowed-tools names (${allowed.join(", ") || "none"}); ${action.tool} is not one of them`;
  }
  const owner = action.actor === "owner";
  const declared = new Set(skill.grant.scopes);
  const declaredPaths = (kinds: readonly string[]): string[] =>
    skill.grant.scopes.filter((s) => kinds.some((k) => s.startsWith(`${k}:`))).map((s) => s.slice(s.indexOf(":") + 1));
  for (const scope of action.scopes) {
    const resource = scope.resource;
    switch (scope.name) {
      case "shell.exec":
        if (!declared.has(scope.text)) {
          const bins = skill.grant.scopes.filter((s) => s.startsWith("shell.exec:")).map((s) => s.slice("shell.exec:".length));
          return `skill ${name} declares the programs ${bins.length > 0 ? bins.join(", ") : "(none)"} (requires.bins); ${scope.text} is not one of them — call a declared program by its bare name`;
        }
        break;
      case "files.read":
      case "files.write": {
        if (owner || resource === undefined) break;
        const write = scope.name === "files.write";
        const ok =
          under(resource, workspace) ||
          skill.grant.mounts.some((m) => (m.rw || !write) && under(resource, m.path)) ||
          declaredPaths(write ? ["files.write"] : ["files.read", "files.write"]).some((p) => under(resource, p));
        if (!ok) return `skill ${name} may ${write ? "write" : "read"} only its workspace and the paths it declares (metadata.aegisclaw.mounts/scopes); ${resource} is outside them`;
        break;
      }
      case "net.connect":
      case "net.fetch": {
        if (owner || resource === undefined) break;
        if (!skill.grant.network.includes(resource) && !declared.has(`net.connect:${resource}`) && !declared.has(`net.fetch:${resource}`)) {
          return `skill ${name} may reach only the hosts it declares (metadata.aegisclaw.network.allow: ${skill.grant.network.join(", ") || "none"}); ${resource} is not one of them`;
        }
        break;
      }
      case "skills.load":
        if (resource !== undefined && resource.toLowerCase() !== name.toLowerCase()) return `skill ${name} may load only its own instructions, not ${resource}`;
        break;
      default:
        if (!declared.has(scope.text)) return `skill ${name} does not declare ${scope.text} (add it to metadata.aegisclaw.scopes if it needs it)`;
    }
  }
  return undefined;
}
