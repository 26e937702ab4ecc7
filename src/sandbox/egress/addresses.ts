/**
 * IP addresses and CIDR blocks: parsing, canonical text, and the one question
 * the egress proxy asks of every address it might connect to — is this a
 * public unicast address, or something on the host's side of the fence
 * (loopback, private networks, link-local, cloud metadata, CGNAT, unique-local,
 * multicast, reserved and documentation space)?
 *
 * Parsing is our own and strict: dotted-quad IPv4 with no leading zeros (some
 * parsers read `010` as octal, others as decimal), IPv6 per RFC 4291 with an
 * optional trailing dotted quad, an optional zone (`%eth0`, ignored). The
 * classifier works on the bytes, so `::ffff:10.0.0.1`, `0:0:0:0:0:ffff:a00:1`
 * and `10.0.0.1` are one address to it. IPv4-mapped and NAT64 (64:ff9b::/96)
 * addresses are judged by the IPv4 address they carry: a NAT64 gateway sends
 * `64:ff9b::a9fe:a9fe` to 169.254.169.254 on its own network.
 */
import { AegisError } from "../../errors.ts";

export type AddressClass =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "cgnat"
  | "unique-local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved";

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

export interface Cidr {
  readonly family: 4 | 6;
  /** The network address (host bits zero). */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

const V4_OCTET_RE = /^(?:0|[1-9][0-9]{0,2})$/;
const V6_GROUP_RE = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i += 1) {
    const part = parts[i] ?? "";
    if (!V4_OCTET_RE.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(input: string): Uint8Array | undefined {
  // A zone names an interface, not a different address: ignore it for classification.
  const percent = input.indexOf("%");
  const text = percent === -1 ? input : input.slice(0, percent);
  if (percent !== -1 && percent === input.length - 1) return undefined;
  if (text.length === 0 || text.length > 45) return undefined;
  let tail: Uint8Array | undefined;
  let body = text;
  // A trailing dotted quad stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    // Stand-in groups so the count works out below; the quad's bytes overwrite them.
    body = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const doubleColon = body.indexOf("::");
  if (doubleColon !== -1 && body.indexOf("::", doubleColon + 1) !== -1) return undefined;
  const groups: number[] = [];
  const parseGroups = (part: string): number[] | undefined => {
    if (part.length === 0) return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!V6_GROUP_RE.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (doubleColon === -1) {
    const all = parseGroups(body);
    if (all?.length !== 8) return undefined;
    groups.push(...all);
  } else {
    const head = parseGroups(body.slice(0, doubleColon));
    const rest = parseGroups(body.slice(doubleColon + 2));
    if (head === undefined || rest === undefined) return undefined;
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups.push(...head, ...new Array<number>(missing).fill(0), ...rest);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail !== undefined) out.set(tail, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address (IPv6 without brackets); undefined if `text` is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  if (!text.includes(":")) return undefined;
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : { family: 6, bytes: v6 };
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else the address itself. */
export function unmapIp(ip: IpAddress): IpAddress {
  if (ip.family === 6 && hasPrefix(ip.bytes, MAPPED_PREFIX, 96)) return { family: 4, bytes: ip.bytes.slice(12) };
  return ip;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return Array.from(ip.bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i] ?? 0) << 8) | (ip.bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

function hasPrefix(bytes: Uint8Array, net: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i += 1) if (bytes[i] !== net[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole] ?? 0) & mask) === ((net[whole] ?? 0) & mask);
}

function cidrOf(text: string): Cidr {
  const slash = text.indexOf("/");
  const ip = parseIp(text.slice(0, slash));
  if (ip === undefined) throw new Error(`bad built-in range ${text}`);
  return { family: ip.family, bytes: ip.bytes, prefix: Number(text.slice(slash + 1)) };
}

const MAPPED_PREFIX = cidrOf("::ffff:0:0/96").bytes;

/** Whether `cidr` contains `ip`. An IPv4-mapped IPv6 address is matched as the IPv4 address it carries. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  const addr = unmapIp(ip);
  return addr.family === cidr.family && hasPrefix(addr.bytes, cidr.bytes, cidr.prefix);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, bytes: cidr.bytes })}/${cidr.prefix}`;
}

/**
 * Parses `203.0.113.0/24`, `2001:db8::/32`, `[2001:db8::]/32`, or a single
 * address (a /32 or /128). Host bits must be zero: `10.0.0.5/8` is refused,
 * not silently widened, because the writer meant one of two different things.
 */
export function parseCidr(input: string, what = "address range"): Cidr {
  const text = input.trim();
  const slash = text.indexOf("/");
  let addrText = slash === -1 ? text : text.slice(0, slash);
  if (addrText.startsWith("[") && addrText.endsWith("]")) addrText = addrText.slice(1, -1);
  if (addrText.includes("%")) throw new AegisError("CONFIG_INVALID", `${what} "${input}" has an IPv6 zone (%…); write the address without it`);
  const ip = parseIp(addrText);
  if (ip === undefined) {
    throw new AegisError("CONFIG_INVALID", `${what} "${input}" is not an IP address or CIDR block; write e.g. 203.0.113.0/24 or [2001:db8::]/32 (IPv4 as four decimal numbers without leading zeros)`);
  }
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      throw new AegisError("CONFIG_INVALID", `${what} "${input}" has an invalid prefix length "/${p}"; IPv${ip.family} prefixes are 0 to ${max}`);
    }
    prefix = Number(p);
  }
  if (prefix === 0) throw new AegisError("CONFIG_INVALID", `${what} "${input}" covers every IPv${ip.family} address; list the specific addresses or networks instead`);
  const net = new Uint8Array(ip.bytes);
  for (let bit = prefix; bit < max; bit += 1) net[bit >> 3] = (net[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  const cidr: Cidr = { family: ip.family, bytes: net, prefix };
  if (!net.every((b, i) => b === ip.bytes[i])) {
    throw new AegisError("CONFIG_INVALID", `${what} "${input}" has host bits set after /${prefix}; write ${formatCidr(cidr)} for the whole network, or ${formatIp(ip)} for the one address`);
  }
  return cidr;
}

type Rule = readonly [Cidr, AddressClass | "embedded-v4"];
const rules = (entries: readonly (readonly [string, AddressClass | "embedded-v4"])[]): Rule[] => entries.map(([c, k]) => [cidrOf(c), k] as const);

// Most specific first: the first range that contains the address decides.
const V4_RULES = rules([
  // Cloud instance metadata services: AWS/GCP/Azure/OCI, AWS ECS task metadata, Alibaba, Oracle Cloud Classic.
  ["169.254.169.254/32", "metadata"],
  ["169.254.170.2/32", "metadata"],
  ["100.100.100.200/32", "metadata"],
  ["192.0.0.192/32", "metadata"],
  ["0.0.0.0/8", "unspecified"], // "this network"; Linux connects 0.0.0.0 to the local host
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "cgnat"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"], // IETF protocol assignments
  ["192.0.2.0/24", "documentation"], // TEST-NET-1
  ["192.88.99.0/24", "reserved"], // deprecated 6to4 relay anycast
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation"], // TEST-NET-2
  ["203.0.113.0/24", "documentation"], // TEST-NET-3
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]);

const V6_RULES = rules([
  ["fd00:ec2::254/128", "metadata"], // AWS instance metadata over IPv6
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::ffff:0:0/96", "embedded-v4"], // IPv4-mapped
  ["64:ff9b::/96", "embedded-v4"], // NAT64 well-known prefix
  ["64:ff9b:1::/48", "reserved"], // NAT64 local-use: the embedding is site-specific
  ["::/8", "reserved"], // includes deprecated IPv4-compatible ::a.b.c.d
  ["100::/64", "reserved"], // discard-only
  ["2001:db8::/32", "documentation"],
  ["2001::/23", "reserved"], // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
  ["2002::/16", "reserved"], // deprecated 6to4: the embedded IPv4 could be anything
  ["3fff::/20", "documentation"],
  ["5f00::/16", "reserved"], // SRv6 SIDs
  ["fc00::/7", "unique-local"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"], // deprecated site-local
  ["ff00::/8", "multicast"],
]);
const GLOBAL_UNICAST = cidrOf("2000::/3");

function classifyBytes(ip: IpAddress): AddressClass {
  const table = ip.family === 4 ? V4_RULES : V6_RULES;
  for (const [cidr, kind] of table) {
    if (!hasPrefix(ip.bytes, cidr.bytes, cidr.prefix)) continue;
    if (kind === "embedded-v4") return classifyBytes({ family: 4, bytes: ip.bytes.slice(12) });
    return kind;
  }
  if (ip.family === 6 && !hasPrefix(ip.bytes, GLOBAL_UNICAST.bytes, GLOBAL_UNICAST.prefix)) return "reserved";
  return "public";
}

/**
 * What kind of address `ip` is. Throws a TypeError if `ip` is not an IP
 * address (a caller holding a resolver's answer should treat that as a refusal).
 */
export function classifyAddress(ip: string | IpAddress): AddressClass {
  const parsed = typeof ip === "string" ? parseIp(ip) : ip;
  if (parsed === undefined) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  return classifyBytes(parsed);
}

/** True only for public unicast addresses. */
export function isPublicAddress(ip: string | IpAddress): boolean {
  const parsed = typeof ip === "string" ? parseIp(ip) : ip;
  return parsed !== undefined && classifyBytes(parsed) === "public";
}
