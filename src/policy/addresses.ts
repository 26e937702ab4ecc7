/**
 * Strict e-mail address-list parsing for recipient constraints.
 *
 * Mail software reads an address header more liberally than a naive allowlist
 * check does, and every difference is a bypass: `ok@allowed.com,evil@x.com`
 * is two recipients, `"ok@allowed.com" <evil@x.com>` goes to evil, and a CR/LF
 * smuggles a Bcc header. So we read every address the way a mailer would,
 * and refuse (rather than guess) anything outside a conservative grammar:
 * quoted local parts, comments, route addresses, group syntax, source routes,
 * encoded words, IP-literal domains, and local parts containing `%` or `!`
 * (some MTAs still route `evil%attacker.example@ok.example` on to
 * attacker.example — the "percent hack" — and `attacker.example!evil@…` as a
 * UUCP bang path, so the domain an allowlist sees is not where mail goes).
 */
import { domainToASCII } from "node:url";

export interface ParsedAddress {
  /** `local@domain` with the domain in lower-case ASCII (punycode). */
  readonly address: string;
  readonly local: string;
  readonly domain: string;
}

export class AddressError extends Error {
  override readonly name = "AddressError";
}

const LOCAL_RE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

/** Splits on commas and semicolons that are outside quotes and angle brackets. */
function splitList(text: string): string[] {
  const parts: string[] = [];
  let depthAngle = 0;
  let inQuote = false;
  let current = "";
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i] ?? "";
    if (ch === "\\" && inQuote) {
      current += ch + (text[i + 1] ?? "");
      i += 1;
      continue;
    }
    if (ch === '"') inQuote = !inQuote;
    else if (!inQuote && ch === "<") depthAngle += 1;
    else if (!inQuote && ch === ">") depthAngle -= 1;
    if (!inQuote && depthAngle === 0 && (ch === "," || ch === ";")) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (inQuote || depthAngle !== 0) throw new AddressError("unbalanced quotes or angle brackets");
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

export function parseAddress(text: string): ParsedAddress {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) throw new AddressError("contains a control character (header injection?)");
  let spec = text.trim();
  const lt = spec.indexOf("<");
  if (lt !== -1) {
    // "Display Name" <addr>: the display name is never trusted, only the angle address is used.
    if (!spec.endsWith(">") || spec.indexOf("<", lt + 1) !== -1 || spec.indexOf(">") !== spec.length - 1) {
      throw new AddressError(`"${text}" has a malformed angle address`);
    }
    spec = spec.slice(lt + 1, -1).trim();
  } else if (/["()<>[\]:\s]/.test(spec)) {
    throw new AddressError(`"${text}" uses quoting, comments or spaces outside an angle address`);
  }
  const at = spec.lastIndexOf("@");
  if (at <= 0 || at === spec.length - 1) throw new AddressError(`"${text}" is not local@domain`);
  const local = spec.slice(0, at);
  const rawDomain = spec.slice(at + 1);
  if (/[%!]/.test(local)) {
    throw new AddressError(`"${text}" has a local part containing "%" or "!"; some mail servers relay on them (percent hack, UUCP bang paths), so the recipient could be another domain`);
  }
  if (!LOCAL_RE.test(local)) throw new AddressError(`"${text}" has a local part outside the plain grammar (no quotes, no @, no spaces)`);
  if (rawDomain.startsWith("[")) throw new AddressError(`"${text}" uses an IP-literal domain`);
  const domain = domainToASCII(rawDomain.normalize("NFKC").toLowerCase().replace(/\.$/, ""));
  if (!DOMAIN_RE.test(domain)) throw new AddressError(`"${text}" has an invalid domain`);
  return { address: `${local}@${domain}`, local, domain };
}

/** Every recipient in a value that may be a string (an address list) or an array of them. */
export function parseAddressList(value: unknown): ParsedAddress[] {
  const items = Array.isArray(value) ? value : [value];
  const out: ParsedAddress[] = [];
  for (const item of items) {
    if (typeof item !== "string") throw new AddressError("a recipient is not a string");
    if (/=\?[^?]+\?[bBqQ]\?/.test(item)) throw new AddressError(`"${item}" contains an RFC 2047 encoded word`);
    for (const part of splitList(item)) out.push(parseAddress(part));
  }
  return out;
}

/** Allowlist entries: `alice@example.com`, `*@example.com` (that domain only), `*@*.example.com` (its subdomains). */
export function addressMatches(addr: ParsedAddress, pattern: string): boolean {
  const at = pattern.lastIndexOf("@");
  if (at === -1) return false;
  const localPat = pattern.slice(0, at);
  const domainPat = domainToASCII(pattern.slice(at + 1).toLowerCase());
  const domainOk = domainPat.startsWith("*.")
    ? addr.domain.endsWith(domainPat.slice(1)) && addr.domain.length > domainPat.length - 1
    : addr.domain === domainPat;
  // Local parts compare case-sensitively: RFC 5321 lets the receiving host treat them so.
  return domainOk && (localPat === "*" || localPat === addr.local);
}
