/**
 * Reads the server name (SNI) out of the first bytes a client sends through a
 * CONNECT tunnel, without decrypting anything: the ClientHello is plaintext.
 *
 * The proxy uses it to refuse domain fronting at the TLS layer: a tunnel
 * opened to `allowed.example` must not carry a handshake for another name
 * that a shared front end (CDN, load balancer) would route elsewhere. It does
 * not see the Host header inside the encrypted stream; nothing short of TLS
 * interception could.
 *
 * Parsing is bounded and strict: the handshake may span several records, but
 * never more than 64 KiB; a second server_name extension or a second
 * host_name entry is malformed (a front end might read the other one).
 */

export type ClientHelloPeek =
  /** Not enough bytes yet to decide. */
  | { readonly state: "need-more" }
  /** The stream does not start with a TLS handshake record (plain TCP or another protocol). */
  | { readonly state: "not-tls" }
  /** Starts like TLS but is not a well-formed ClientHello. */
  | { readonly state: "malformed"; readonly reason: string }
  /** A complete ClientHello; `serverName` is lower case, without a trailing dot, or undefined when absent. */
  | { readonly state: "client-hello"; readonly serverName: string | undefined };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
/** The most handshake bytes we buffer before deciding. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;
const MAX_RECORD_BYTES = 16384 + 2048;

class Malformed extends Error {}

/** A bounds-checked reader: every read past the end throws Malformed. */
class Reader {
  private offset = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  get remaining(): number {
    return this.buf.length - this.offset;
  }
  u8(): number {
    if (this.remaining < 1) throw new Malformed("truncated");
    const v = this.buf.readUInt8(this.offset);
    this.offset += 1;
    return v;
  }
  u16(): number {
    if (this.remaining < 2) throw new Malformed("truncated");
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.remaining < n) throw new Malformed("a length field runs past the end of its container");
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
}

function parseServerNameExtension(data: Buffer): string {
  const r = new Reader(data);
  const list = new Reader(r.bytes(r.u16()));
  if (r.remaining !== 0) throw new Malformed("trailing bytes after the server_name list");
  let name: string | undefined;
  while (list.remaining > 0) {
    const type = list.u8();
    const value = list.bytes(list.u16());
    if (type !== NAME_TYPE_HOST) continue;
    if (name !== undefined) throw new Malformed("two host names in server_name");
    // RFC 6066: ASCII, no trailing dot; we accept one trailing dot and compare case-insensitively.
    if (value.length === 0 || !/^[\x21-\x7e]+$/.test(value.toString("latin1"))) throw new Malformed("server_name is not a printable ASCII host name");
    name = value.toString("latin1").toLowerCase().replace(/\.$/, "");
  }
  if (name === undefined) throw new Malformed("server_name extension without a host name");
  return name;
}

function parseClientHello(body: Buffer): string | undefined {
  const r = new Reader(body);
  r.bytes(2); // legacy_version
  r.bytes(32); // random
  const sessionId = r.u8();
  if (sessionId > 32) throw new Malformed("session id longer than 32 bytes");
  r.bytes(sessionId);
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0) throw new Malformed("bad cipher_suites length");
  r.bytes(suites);
  const compression = r.u8();
  if (compression < 1) throw new Malformed("no compression methods");
  r.bytes(compression);
  if (r.remaining === 0) return undefined; // no extensions at all
  const exts = new Reader(r.bytes(r.u16()));
  if (r.remaining !== 0) throw new Malformed("trailing bytes after the extensions");
  let serverName: string | undefined;
  let seen = false;
  while (exts.remaining > 0) {
    const type = exts.u16();
    const data = exts.bytes(exts.u16());
    if (type !== EXT_SERVER_NAME) continue;
    if (seen) throw new Malformed("two server_name extensions");
    seen = true;
    serverName = parseServerNameExtension(data);
  }
  return serverName;
}

/** Judges the first bytes of a tunnel. Call again with more bytes while it answers `need-more`. */
export function peekClientHello(buf: Buffer): ClientHelloPeek {
  if (buf.length === 0) return { state: "need-more" };
  if (buf[0] !== RECORD_HANDSHAKE) return { state: "not-tls" };
  if (buf.length >= 2 && buf[1] !== 0x03) return { state: "not-tls" };
  // Reassemble the handshake message from as many records as it spans.
  const fragments: Buffer[] = [];
  let have = 0;
  let offset = 0;
  let need: number | undefined;
  while (need === undefined || have < need) {
    if (buf.length - offset < 5) return { state: "need-more" };
    if (buf[offset] !== RECORD_HANDSHAKE) return { state: "malformed", reason: "a non-handshake record interrupts the ClientHello" };
    const length = buf.readUInt16BE(offset + 3);
    if (length === 0 || length > MAX_RECORD_BYTES) return { state: "malformed", reason: "bad TLS record length" };
    if (buf.length - offset - 5 < length) return { state: "need-more" };
    fragments.push(buf.subarray(offset + 5, offset + 5 + length));
    have += length;
    offset += 5 + length;
    if (need === undefined && have >= 4) {
      const first = Buffer.concat(fragments);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return { state: "malformed", reason: "the first handshake message is not a ClientHello" };
      need = 4 + first.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return { state: "malformed", reason: "ClientHello larger than 64 KiB" };
    }
  }
  const handshake = Buffer.concat(fragments);
  try {
    return { state: "client-hello", serverName: parseClientHello(handshake.subarray(4, need)) };
  } catch (err) {
    if (err instanceof Malformed) return { state: "malformed", reason: err.message };
    throw err;
  }
}
