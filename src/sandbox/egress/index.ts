/**
 * Egress: the only network path out of a sandbox. A host-side proxy on a
 * UNIX socket judges every connection against the skill's allowlist and
 * refuses non-public addresses; inside the sandbox, the bridge exposes that
 * socket on 127.0.0.1 and points the proxy variables at it.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AegisError } from "../../errors.ts";

export { classifyAddress, isPublicAddress, parseIp, parseCidr, formatIp, formatCidr, cidrContains, unmapIp, type AddressClass, type Cidr, type IpAddress } from "./addresses.ts";
export { parseAllowlist, matchAllow, canonicalHost, describeAllowlist, DEFAULT_PORTS, type AllowRule, type AllowQuery, type AllowMatch, type CanonicalHost } from "./allowlist.ts";
export { EgressProxy, type EgressProxyOptions, type EgressStats, type EgressDecision, type EgressViolation, type EgressFlow } from "./proxy.ts";
export { peekClientHello, type ClientHelloPeek } from "./sni.ts";

/**
 * Absolute path of the bridge program next to this module: `bridge.js` when
 * running compiled (dist/), `bridge.ts` when running from source. The sandbox
 * backend mounts this one file and runs it with the sandbox's Node.
 */
export function bridgeScriptPath(): string {
  const compiled = import.meta.url.endsWith(".js");
  const names = compiled ? ["bridge.js", "bridge.ts"] : ["bridge.ts", "bridge.js"];
  for (const name of names) {
    const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new AegisError("EXECUTOR_REFUSED", `the egress bridge (bridge.js or bridge.ts) is missing next to ${fileURLToPath(import.meta.url)}; reinstall AegisClaw`);
}
