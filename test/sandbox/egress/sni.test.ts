/**
 * The ClientHello reader, on real handshakes from node:tls (captured on
 * loopback, never completed) and on hand-built and mangled ones.
 */
import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, test } from "node:test";
import { MAX_CLIENT_HELLO_BYTES, peekClientHello } from "../../../src/sandbox/egress/sni.ts";

/** The first flight a node:tls client sends, captured by a TCP server that never answers. */
async function realClientHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => {
      s.once("data", (c: Buffer) => {
        resolve(c);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      const client = tlsConnect({ host: "127.0.0.1", port, ...(servername === undefined ? {} : { servername }), rejectUnauthorized: false });
      client.on("error", () => undefined);
    });
    server.on("error", reject);
  });
}

/** Re-wraps one handshake record's payload into records of at most `size` bytes. */
function refragment(record: Buffer, size: number): Buffer {
  const payload = record.subarray(5);
  const out: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) {
    const part = payload.subarray(i, i + size);
    const head = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    head.writeUInt16BE(part.length, 3);
    out.push(head, part);
  }
  return Buffer.concat(out);
}

describe("peekClientHello", () => {
  test("reads the server name from a real node:tls ClientHello, lower-cased", async () => {
    const hello = await realClientHello("API.Allowed.Test");
    assert.deepEqual(peekClientHello(hello), { state: "client-hello", serverName: "api.allowed.test" });
  });

  test("a ClientHello without SNI has no server name", async () => {
    const hello = await realClientHello(undefined);
    assert.deepEqual(peekClientHello(hello), { state: "client-hello", serverName: undefined });
  });

  test("asks for more while the record or the handshake is incomplete, at every cut point", async () => {
    const hello = await realClientHello("allowed.test");
    for (let cut = 1; cut < hello.length; cut += 1) {
      assert.deepEqual(peekClientHello(hello.subarray(0, cut)), { state: "need-more" }, `cut at ${String(cut)}`);
    }
    assert.deepEqual(peekClientHello(Buffer.alloc(0)), { state: "need-more" });
  });

  test("reassembles a ClientHello fragmented across many records", async () => {
    const hello = await realClientHello("allowed.test");
    const split = refragment(hello, 7);
    assert.deepEqual(peekClientHello(split), { state: "client-hello", serverName: "allowed.test" });
    for (let cut = 1; cut < split.length; cut += 97) assert.equal(peekClientHello(split.subarray(0, cut)).state, "need-more");
  });

  test("anything that does not start with a TLS handshake record is not TLS", () => {
    assert.deepEqual(peekClientHello(Buffer.from("GET / HTTP/1.1\r\n")), { state: "not-tls" });
    assert.deepEqual(peekClientHello(Buffer.from("SSH-2.0-OpenSSH\r\n")), { state: "not-tls" });
    assert.deepEqual(peekClientHello(Buffer.from([0x16, 0x02])), { state: "not-tls" });
  });

  test("mangled handshakes are malformed, not guessed at", async () => {
    const hello = await realClientHello("allowed.test");
    // Not a ClientHello (ServerHello type).
    const wrongType = Buffer.from(hello);
    wrongType[5] = 2;
    assert.equal(peekClientHello(wrongType).state, "malformed");
    // A length that claims more than the message holds.
    const badSession = Buffer.from(hello);
    badSession[5 + 4 + 2 + 32] = 33;
    assert.equal(peekClientHello(badSession).state, "malformed");
    // A handshake that claims to exceed the 64 KiB bound.
    const huge = Buffer.from(hello);
    huge.writeUIntBE(MAX_CLIENT_HELLO_BYTES, 6, 3);
    assert.equal(peekClientHello(huge).state, "malformed");
    // A zero-length record.
    assert.equal(peekClientHello(Buffer.from([0x16, 0x03, 0x01, 0, 0])).state, "malformed");
    // An alert record interrupting the handshake.
    const interrupted = Buffer.concat([refragment(hello, 20).subarray(0, 25), Buffer.from([0x15, 0x03, 0x03, 0, 2, 2, 40])]);
    assert.equal(peekClientHello(interrupted).state, "malformed");
  });
});
