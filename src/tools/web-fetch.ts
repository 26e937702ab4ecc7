/**
 * web.fetch: GET one http(s) URL and return it as text for the model.
 *
 * The scope is `net.fetch:<canonical host>`. The request never leaves from
 * here directly: each call starts its own in-process EgressProxy whose
 * allowlist is exactly the judged host and the URL's port, and goes through
 * it as a CONNECT tunnel. So the proxy's rules apply: the name is resolved
 * once and refused if any answer is not a public address (loopback, private,
 * link-local, cloud metadata…, unless the operator's allowPrivate covers it),
 * the proxy connects to the address it checked (no DNS rebinding between
 * check and connect), and a TLS ClientHello must name the judged host. HTTPS
 * is TLS over that tunnel with normal certificate verification.
 *
 * Redirects are followed only within the judged origin (same scheme, host and
 * port), at most 5. A redirect anywhere else is not followed: the result says
 * where it points, so the agent can ask for it in a new call, judged anew.
 * At most 2 MiB is downloaded. HTML is reduced to readable text (scripts,
 * styles, templates, SVG dropped; link text kept), JSON and text come back as
 * they are, anything else is described (type and size), never returned as
 * bytes. What reaches the model is cut at max_chars with a note.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { isIP, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex, Readable } from "node:stream";
import { connect as tlsConnect, rootCertificates, type TLSSocket } from "node:tls";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Parser } from "htmlparser2";
import { z } from "zod";
import { errorMessage } from "../errors.ts";
import { defineTool, type AnyTool } from "../envelope/tool.ts";
import { canonicalHost } from "../policy/scope.ts";
import { EgressProxy, parseAllowlist, type EgressDecision } from "../sandbox/egress/index.ts";

export const MAX_URL_CHARS = 2048;
export const MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_CHARS = 20_000;
export const MAX_REDIRECTS = 5;
const MAX_CHARS_LIMIT = 200_000;
const USER_AGENT = "AegisClaw-web.fetch/0.1";

export interface WebFetchOptions {
  /** Non-public ranges the proxy may reach (CIDR or single addresses), e.g. a local service; none by default. */
  readonly allowPrivate?: readonly string[];
  /** Name → addresses, for the proxy's one resolution per request. Default: the system resolver. */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** Opens the proxy's upstream TCP connection to a checked address. Default `net.connect`. */
  readonly connect?: (address: string, port: number) => Socket;
  /** Extra trusted CA certificates (PEM), added to Node's bundled roots (a private CA; tests). */
  readonly ca?: readonly string[];
  /** Where each call's private proxy socket directory is made. Default: the OS temp directory. */
  readonly socketDir?: string;
}

// eslint-disable-next-line no-control-regex
const SPACE_OR_CONTROL = /[\u0000-\u0020\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;
const DNS_NAME = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/** Why `raw` is not a URL web.fetch takes, or undefined when it is. */
function urlProblem(raw: string): string | undefined {
  if (SPACE_OR_CONTROL.test(raw)) return "the URL contains spaces, control or invisible characters; percent-encode them";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a valid absolute URL (e.g. https://example.com/page)";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `only http:// and https:// URLs can be fetched, not ${url.protocol}`;
  if (url.username !== "" || url.password !== "") return "the URL carries credentials (user:password@); they are never sent";
  const host = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  if (isIP(bare) === 0 && !DNS_NAME.test(host)) return `"${url.hostname}" is not a host name or IP address`;
  // ::ffff:a.b.c.d (and the old ::a.b.c.d) is an IPv4 address in disguise: a rule written for a.b.c.d would not see it.
  if (isIP(bare) === 6 && /^::(?:ffff:)?[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(bare)) return `${url.hostname} is an IPv4 address written as IPv6; write the IPv4 address (a.b.c.d) instead`;
  return undefined;
}

const Url = z
  .string()
  .min(1)
  .max(MAX_URL_CHARS)
  .superRefine((value, ctx) => {
    const problem = urlProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });

const FetchArgs = z.object({ url: Url, max_chars: z.number().int().min(1).max(MAX_CHARS_LIMIT).optional() }).strict();

/** Where one request goes: scheme, the canonical host (what the scope names), port, and the forms each layer needs. */
interface Target {
  readonly url: URL;
  readonly https: boolean;
  /** Canonical host: lower case, punycode, no trailing dot, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** host:port for CONNECT and the allowlist (IPv6 in brackets). */
  readonly authority: string;
  /** The Host header: the port only when it is not the scheme's default. */
  readonly hostHeader: string;
}

function targetOf(url: URL): Target {
  const https = url.protocol === "https:";
  const host = canonicalHost(url.hostname);
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return { url, https, host, port, authority: `${shown}:${String(port)}`, hostHeader: url.port === "" ? shown : `${shown}:${String(port)}` };
}

/** A URL as shown to the model: any user:password@ a server put in it is left out. */
function withoutCredentials(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const shown = new URL(url.href);
  shown.username = "";
  shown.password = "";
  return `${shown.href} (with credentials, not shown)`;
}

function sameOrigin(a: Target, b: Target): boolean {
  return a.https === b.https && a.host === b.host && a.port === b.port;
}

class Refused extends Error {}

/** Opens a CONNECT tunnel through the proxy; a refusal carries the proxy's reason. */
function openTunnel(socketPath: string, t: Target, signal: AbortSignal, decisions: readonly EgressDecision[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method: "CONNECT", path: t.authority, headers: { Host: t.authority }, agent: new Agent({ keepAlive: false }), signal });
    req.once("connect", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
        return;
      }
      socket.destroy();
      const refusal = [...decisions].reverse().find((d) => !d.allowed);
      reject(new Refused(`web.fetch cannot reach ${t.authority}: ${refusal?.reason ?? `the egress proxy answered HTTP ${String(res.statusCode)}`}`));
    });
    req.once("error", reject);
    req.end();
  });
}

/** TLS over the tunnel, verified as usual: the chain against trusted roots, the certificate against the judged host. */
function startTls(socket: Socket, t: Target, ca: readonly string[] | undefined, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      host: t.host,
      ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
      ALPNProtocols: ["http/1.1"],
      ...(ca !== undefined && ca.length > 0 ? { ca: [...rootCertificates, ...ca] } : {}),
    });
    const onAbort = (): void => {
      tls.destroy(new Error("the fetch was cancelled"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    tls.once("secureConnect", () => {
      signal.removeEventListener("abort", onAbort);
      resolve(tls);
    });
    tls.once("error", (err: Error) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(new Error(`TLS with ${t.host} failed: ${err.message}`));
    });
  });
}

/** One GET over a fresh tunnel; resolves with the response head (the body is still to be read). */
async function exchange(socketPath: string, t: Target, options: WebFetchOptions, signal: AbortSignal, decisions: readonly EgressDecision[]): Promise<IncomingMessage> {
  const tunnel = await openTunnel(socketPath, t, signal, decisions);
  const stream: Duplex = t.https ? await startTls(tunnel, t, options.ca, signal) : tunnel;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      createConnection: () => stream,
      host: t.host,
      port: t.port,
      method: "GET",
      path: `${t.url.pathname}${t.url.search}`,
      headers: {
        Host: t.hostHeader,
        "User-Agent": USER_AGENT,
        Accept: "text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.9,*/*;q=0.5",
        "Accept-Encoding": "gzip, br",
        Connection: "close",
      },
      signal,
    });
    req.once("response", resolve);
    req.once("error", (err) => {
      stream.destroy();
      reject(err);
    });
    req.end();
  });
}

/** Reads at most `cap` bytes of the (decoded) body; more is not downloaded: the connection is dropped. */
function readBody(res: IncomingMessage, cap: number, signal: AbortSignal): Promise<{ body: Buffer; truncated: boolean }> {
  const encoding = (res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  let source: Readable = res;
  if (encoding === "gzip" || encoding === "x-gzip") source = res.pipe(createGunzip());
  else if (encoding === "deflate") source = res.pipe(createInflate());
  else if (encoding === "br") source = res.pipe(createBrotliDecompress());
  else if (encoding !== "identity" && encoding !== "") {
    res.destroy();
    return Promise.reject(new Error(`the response is encoded with ${encoding}, which web.fetch does not decode`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let raw = 0;
    let settled = false;
    const stop = (): void => {
      settled = true;
      signal.removeEventListener("abort", onAbort);
      res.destroy();
      if (source !== res) source.destroy();
    };
    const done = (truncated: boolean): void => {
      if (settled) return;
      stop();
      resolve({ body: Buffer.concat(chunks), truncated });
    };
    const fail = (err: Error): void => {
      if (settled) return;
      stop();
      reject(err);
    };
    const onAbort = (): void => {
      fail(new Error("the fetch was cancelled"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    if (source !== res) {
      // A compressed body counts against the cap both as sent and as decoded (a decompression bomb stops at the cap).
      res.on("data", (c: Buffer) => {
        raw += c.length;
        if (raw > cap) done(true);
      });
    }
    source.on("data", (c: Buffer) => {
      const room = cap - size;
      if (c.length > room) {
        chunks.push(c.subarray(0, room));
        size = cap;
        done(true);
        return;
      }
      chunks.push(c);
      size += c.length;
    });
    source.once("end", () => {
      done(false);
    });
    source.once("error", fail);
    res.once("error", fail);
    res.once("close", () => {
      if (!res.complete) fail(new Error("the connection closed before the whole response arrived"));
    });
  });
}

type BodyKind = "html" | "text" | "other";

const TEXT_TYPES = new Set([
  "application/json", "application/xml", "application/javascript", "application/ecmascript", "application/x-javascript",
  "application/x-ndjson", "application/yaml", "application/x-yaml", "application/toml", "application/csv", "application/graphql",
  "application/x-www-form-urlencoded", "application/sql", "image/svg+xml",
]);

/** How a media type is shown; undefined when there is none and the body must be sniffed. */
function kindOf(mediaType: string | undefined): BodyKind | undefined {
  if (mediaType === undefined || mediaType === "") return undefined;
  if (mediaType === "text/html" || mediaType === "application/xhtml+xml") return "html";
  if (mediaType.startsWith("text/") || TEXT_TYPES.has(mediaType) || mediaType.endsWith("+json") || mediaType.endsWith("+xml")) return "text";
  return "other";
}

function sniff(body: Buffer): BodyKind {
  const head = body.subarray(0, 1024);
  if (head.includes(0)) return "other";
  if (/^\s*(?:<!doctype html|<html[\s>]|<head[\s>]|<body[\s>])/i.test(head.toString("latin1"))) return "html";
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(body.subarray(0, 64 * 1024));
    return "text";
  } catch {
    return "other";
  }
}

function decodeText(body: Buffer, charset: string | undefined, kind: BodyKind): string {
  let label = charset;
  if (label === undefined && kind === "html") label = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(body.subarray(0, 2048).toString("latin1"))?.[1];
  try {
    return new TextDecoder(label ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${String(n)} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// --- HTML to text --------------------------------------------------------------------------------

/** Elements whose content is never shown: code, styling, inert templates, graphics, embedded documents. */
const DROPPED = new Set(["script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas"]);
const BLOCKS = new Set([
  "address", "article", "aside", "blockquote", "body", "caption", "center", "details", "dialog", "div", "dl", "dd", "dt", "fieldset",
  "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "html", "legend", "main", "nav", "ol", "p", "pre", "section",
  "summary", "table", "tbody", "tfoot", "thead", "ul",
]);

/**
 * Readable text from HTML: block elements on their own paragraphs, headings as `#`, list items as `- `,
 * table cells separated by `|`, links as their text followed by the absolute http(s) URL, images by their
 * alt text. Entities are decoded; whitespace collapses as a browser would, except inside <pre>.
 */
export function htmlToText(html: string, base?: URL): string {
  let out = "";
  let dropped = 0;
  let inTitle = 0;
  let pre = 0;
  let title = "";
  let listDepth = 0;
  let cellsInRow = 0;
  const links: { href: string | undefined; start: number }[] = [];
  const ensure = (breaks: string): void => {
    if (out === "") return;
    const trimmed = out.replace(/ +$/, "");
    const have = /\n*$/.exec(trimmed)?.[0].length ?? 0;
    out = trimmed + "\n".repeat(Math.max(0, breaks.length - have));
  };
  const resolveHref = (href: string | undefined): string | undefined => {
    if (href === undefined || href.trim() === "") return undefined;
    try {
      const u = new URL(href.trim(), base);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : undefined;
    } catch {
      return undefined;
    }
  };
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (DROPPED.has(name)) {
          dropped += 1;
          return;
        }
        if (dropped > 0) return;
        if (name === "title") inTitle += 1;
        if (inTitle > 0) return;
        if (/^h[1-6]$/.test(name)) {
          ensure("\n\n");
          out += `${"#".repeat(Number(name.slice(1)))} `;
        } else if (name === "li") {
          ensure("\n");
          out += `${"  ".repeat(Math.max(0, listDepth - 1))}- `;
        } else if (name === "br") {
          out = `${out.replace(/ +$/, "")}\n`;
        } else if (name === "tr") {
          ensure("\n");
          cellsInRow = 0;
        } else if (name === "td" || name === "th") {
          if (cellsInRow > 0) out = `${out.replace(/ +$/, "")} | `;
          cellsInRow += 1;
        } else if (name === "a") {
          links.push({ href: resolveHref(attribs.href), start: out.length });
        } else if (name === "img") {
          const alt = (attribs.alt ?? "").replace(/\s+/g, " ").trim();
          if (alt !== "") out += `${/[^\s]$/.test(out) ? " " : ""}[image: ${alt}]`;
        } else if ((name === "ul" || name === "ol") && listDepth > 0) {
          ensure("\n"); // a nested list continues its parent list
        } else if (BLOCKS.has(name)) {
          ensure("\n\n");
        }
        if (name === "ul" || name === "ol") listDepth += 1;
        if (name === "pre") pre += 1;
      },
      ontext(text) {
        if (dropped > 0) return;
        if (inTitle > 0) {
          title += text;
          return;
        }
        if (pre > 0) {
          out += text;
          return;
        }
        let s = text.replace(/[ \t\n\r\f]+/g, " ");
        if (out === "" || /[ \n]$/.test(out)) s = s.replace(/^ /, "");
        out += s;
      },
      onclosetag(name) {
        if (DROPPED.has(name)) {
          dropped = Math.max(0, dropped - 1);
          return;
        }
        if (dropped > 0) return;
        if (name === "title") {
          inTitle = Math.max(0, inTitle - 1);
          return;
        }
        if (inTitle > 0) return;
        if (name === "ul" || name === "ol") listDepth = Math.max(0, listDepth - 1);
        if (name === "pre") pre = Math.max(0, pre - 1);
        if ((name === "ul" || name === "ol") && listDepth > 0) {
          ensure("\n");
        } else if (name === "a") {
          const link = links.pop();
          const text = link === undefined ? "" : out.slice(link.start).trim();
          if (link?.href !== undefined && text !== "" && text !== link.href) out = `${out.replace(/ +$/, "")} (${link.href})`;
        } else if (/^h[1-6]$/.test(name) || BLOCKS.has(name)) {
          ensure("\n\n");
        } else if (name === "li" || name === "tr") {
          ensure("\n");
        }
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();
  const text = out
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .replace(/^\n+/, "") // not trim(): leading spaces can only be a <pre>'s own indentation
    .trimEnd();
  const heading = title.replace(/\s+/g, " ").trim();
  return heading === "" ? text : `Title: ${heading}\n\n${text}`;
}

/** The first `max` characters, not splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return text.slice(0, end);
}

// --- the tool ------------------------------------------------------------------------------------

/** web.fetch, with the proxy settings given (tests reach loopback servers through `allowPrivate`, `resolve`, `connect`). */
export function createWebFetchTool(options: WebFetchOptions = {}): AnyTool {
  return defineTool<z.infer<typeof FetchArgs>>({
    name: "web.fetch",
    description: "Fetch a web page or API over HTTP(S) with GET (at most 2 MiB). HTML comes back as readable text; a redirect to another host is reported, not followed.",
    risk: "medium",
    args: FetchArgs,
    argRoles: { recipients: [], urls: ["url"], paths: [] },
    spawnsProcess: false,
    scopes(args) {
      return [`net.fetch:${targetOf(new URL(args.url)).host}`];
    },
    async run(args, ctx) {
      const judged = ctx.scopes.find((s) => s.name === "net.fetch")?.resource;
      if (judged === undefined) throw new Error("web.fetch runs only with the net.fetch scope it was judged on");
      const first = targetOf(new URL(args.url));
      if (first.host !== judged) throw new Error(`web.fetch was judged for ${judged}, but the URL names ${first.host}; nothing was fetched`);
      const maxChars = args.max_chars ?? DEFAULT_MAX_CHARS;
      const signal = ctx.signal;
      signal.throwIfAborted();

      // A private directory (mkdtemp: 0700) for this call's proxy socket.
      const dir = await mkdtemp(join(options.socketDir ?? tmpdir(), "aegisclaw-fetch-"));
      const decisions: EgressDecision[] = [];
      let proxy: EgressProxy | undefined;
      try {
        proxy = await EgressProxy.start({
          socketPath: join(dir, "egress.sock"),
          // Exactly the judged host, on the URL's port: nothing else is reachable through this proxy.
          allow: parseAllowlist([first.authority]),
          ...(options.resolve ? { resolve: options.resolve } : {}),
          ...(options.connect ? { connect: options.connect } : {}),
          allowPrivate: options.allowPrivate ?? [],
          onDecision: (d) => decisions.push(d),
          // Our own TLS client names the host; insist on it (an IP literal has no SNI to check).
          requireSni: first.https && isIP(first.host) === 0,
          // A backstop behind the per-response cap: every hop's body plus headers and TLS overhead.
          maxBytes: (MAX_DOWNLOAD_BYTES + 512 * 1024) * (MAX_REDIRECTS + 1),
        });
        let current = first;
        let redirects = 0;
        for (;;) {
          let res: IncomingMessage;
          try {
            res = await exchange(proxy.socketPath, current, options, signal, decisions);
          } catch (err) {
            if (err instanceof Refused) throw err;
            if (signal.aborted) throw new Error(`fetching ${current.url.href} was cancelled`);
            throw new Error(`fetching ${current.url.href} failed: ${errorMessage(err)}`);
          }
          const status = res.statusCode ?? 0;
          const location = res.headers.location;
          if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
            res.destroy();
            let next: URL | undefined;
            try {
              next = new URL(location, current.url);
            } catch {
              next = undefined;
            }
            const problem = next === undefined ? "not a valid URL" : urlProblem(next.href);
            const nextTarget = next !== undefined && problem === undefined ? targetOf(next) : undefined;
            if (next === undefined || nextTarget === undefined || !sameOrigin(nextTarget, first)) {
              const where = next === undefined ? JSON.stringify(location.slice(0, MAX_URL_CHARS)) : withoutCredentials(next).slice(0, MAX_URL_CHARS);
              const why =
                nextTarget === undefined
                  ? `which web.fetch cannot fetch (${problem ?? "invalid"})`
                  : nextTarget.host !== first.host
                    ? `on another host (${nextTarget.host})`
                    : nextTarget.https !== first.https
                      ? `with another scheme (${nextTarget.url.protocol.slice(0, -1)})`
                      : `on another port (${String(nextTarget.port)})`;
              return {
                text: `[not followed] ${current.url.href} redirects (HTTP ${String(status)}) to ${where}, ${why}. Only redirects within ${first.url.origin} are followed. To read it, fetch that URL with a new web.fetch call; it will be judged on its own.`,
                details: { host: first.host, status, redirects, redirect: nextTarget?.host ?? "invalid", followed: false },
              };
            }
            if (redirects >= MAX_REDIRECTS) throw new Error(`${first.url.href} redirected more than ${String(MAX_REDIRECTS)} times; stopped at ${current.url.href}`);
            redirects += 1;
            current = nextTarget;
            continue;
          }
          return await render(res, current, { status, redirects, maxChars, signal, address: decisions.findLast((d) => d.allowed && d.address !== undefined)?.address });
        }
      } finally {
        await proxy?.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  });
}

interface RenderContext {
  readonly status: number;
  readonly redirects: number;
  readonly maxChars: number;
  readonly signal: AbortSignal;
  readonly address: string | undefined;
}

async function render(res: IncomingMessage, t: Target, c: RenderContext): Promise<{ text: string; details: Record<string, unknown> }> {
  const contentType = res.headers["content-type"] ?? "";
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  const declared = Number(res.headers["content-length"] ?? Number.NaN);
  const notes: string[] = [];
  if (c.redirects > 0) notes.push(`[redirected to ${t.url.href}]`);
  if (c.status < 200 || c.status > 299) notes.push(`[HTTP ${String(c.status)}${res.statusMessage ? ` ${res.statusMessage}` : ""}]`);
  const details: Record<string, unknown> = { host: t.host, status: c.status, contentType: mediaType || "(none)", redirects: c.redirects, ...(c.address === undefined ? {} : { address: c.address }) };

  let kind = kindOf(mediaType);
  if (kind === "other") {
    // Not text: described, not downloaded.
    res.destroy();
    const size = Number.isFinite(declared) ? formatBytes(declared) : "size not given";
    return { text: [...notes, `[${t.url.href} is ${mediaType} (${size}); web.fetch returns text, HTML and JSON only, so the content is not shown]`].join("\n"), details: { ...details, bytes: Number.isFinite(declared) ? declared : null } };
  }
  let body: Buffer;
  let truncated: boolean;
  try {
    ({ body, truncated } = await readBody(res, MAX_DOWNLOAD_BYTES, c.signal));
  } catch (err) {
    throw new Error(`reading ${t.url.href} failed: ${errorMessage(err)}`);
  }
  details.bytes = body.length;
  details.downloadTruncated = truncated;
  kind ??= sniff(body);
  if (kind === "other") {
    return { text: [...notes, `[${t.url.href} is binary content with no declared type (${truncated ? "more than " : ""}${formatBytes(body.length)}); it is not shown]`].join("\n"), details };
  }
  if (truncated) notes.push(`[the response is larger than ${formatBytes(MAX_DOWNLOAD_BYTES)}; only the first ${formatBytes(MAX_DOWNLOAD_BYTES)} were downloaded]`);
  const decoded = decodeText(body, charset, kind);
  const content = kind === "html" ? htmlToText(decoded, t.url) : decoded;
  const shown = cut(content, c.maxChars);
  details.chars = content.length;
  details.truncated = shown.length < content.length;
  const tail = shown.length < content.length ? `\n\n[truncated: the first ${String(shown.length)} of ${String(content.length)} characters are shown; ask with a larger max_chars for more]` : "";
  return { text: `${notes.length > 0 ? `${notes.join("\n")}\n\n` : ""}${shown}${tail}`, details };
}

/** web.fetch as registered by default: only public addresses, the system resolver, Node's trusted roots. */
export const webFetchTool = createWebFetchTool();
