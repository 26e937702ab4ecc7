/**
 * Scope canonicalisation vectors: two spellings of one resource must give one
 * scope, and anything that cannot be canonicalised must be refused.
 */
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import {
  canonicalBinary,
  canonicalHost,
  canonicalPath,
  makeScope,
  parseScope,
  parseScopeName,
  pathReadings,
  resourceKindOf,
  ScopeError,
} from "../../src/policy/scope.ts";
import { tempDir } from "../helpers/tmp.ts";

interface Tree {
  root: string;
  ws: string;
  outside: string;
}

/** root/ws (the workspace) and root/outside (somewhere the workspace must not reach). */
function makeTree(t: TestContext): Tree {
  const root = tempDir(t, "aegisclaw-scope-");
  const ws = join(root, "ws");
  const outside = join(root, "outside");
  mkdirSync(join(ws, "docs"), { recursive: true });
  mkdirSync(join(outside, ".ssh"), { recursive: true });
  writeFileSync(join(ws, "docs", "a.txt"), "a");
  writeFileSync(join(outside, "secret.txt"), "s");
  writeFileSync(join(outside, ".ssh", "id_rsa"), "k");
  return { root, ws, outside };
}

function refused(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScopeError, `expected a ScopeError, got ${String(err)}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

describe("canonicalPath: traversal and relative paths", () => {
  test("resolves .. so /ws/a/../../etc/passwd is /etc/passwd", () => {
    assert.equal(canonicalPath("/ws/a/../../etc/passwd", { resolveSymlinks: false }), "/etc/passwd");
    assert.equal(canonicalPath("/ws/./a/./b", { resolveSymlinks: false }), "/ws/a/b");
    assert.equal(canonicalPath("/../../..", { resolveSymlinks: false }), "/");
  });

  test("resolves relative paths against the given cwd", () => {
    assert.equal(canonicalPath("notes/a.txt", { cwd: "/home/u/ws", resolveSymlinks: false }), "/home/u/ws/notes/a.txt");
    assert.equal(canonicalPath("../.ssh/id_rsa", { cwd: "/home/u/ws", resolveSymlinks: false }), "/home/u/.ssh/id_rsa");
    assert.equal(canonicalPath("./", { cwd: "/home/u/ws", resolveSymlinks: false }), "/home/u/ws");
  });

  test("resolves relative paths against process.cwd() when no cwd is given, or when cwd is itself relative", () => {
    assert.equal(canonicalPath("some-file-that-does-not-exist", { resolveSymlinks: false }), join(process.cwd(), "some-file-that-does-not-exist"));
    assert.equal(canonicalPath("x", { cwd: "no-such-dir" }), join(process.cwd(), "no-such-dir", "x"));
  });

  test("drops trailing slashes and duplicate separators", () => {
    assert.equal(canonicalPath("/ws/docs/", { resolveSymlinks: false }), "/ws/docs");
    assert.equal(canonicalPath("/ws//docs///", { resolveSymlinks: false }), "/ws/docs");
    assert.equal(canonicalPath("/", { resolveSymlinks: false }), "/");
  });

  test("refuses ~ (the shell expands it, not AegisClaw) and the empty path", () => {
    refused(() => canonicalPath("~/.ssh/id_rsa"), /~/);
    refused(() => canonicalPath("~"), /~/);
    refused(() => canonicalPath(""), /empty/);
  });

  test("keeps a file literally named ~x or with a ~ inside", () => {
    assert.equal(canonicalPath("/ws/~x", { resolveSymlinks: false }), "/ws/~x");
  });

  test("is case-sensitive: /WS/Docs is not /ws/docs", () => {
    assert.equal(canonicalPath("/WS/Docs/A.txt", { resolveSymlinks: false }), "/WS/Docs/A.txt");
  });
});

describe("canonicalPath: symlinks", () => {
  test("a symlink inside the workspace pointing outside is judged as its target", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, "secret.txt"), join(ws, "innocent.txt"));
    assert.equal(canonicalPath(join(ws, "innocent.txt")), join(outside, "secret.txt"));
    assert.equal(canonicalPath("innocent.txt", { cwd: ws }), join(outside, "secret.txt"));
  });

  test("a symlinked parent directory is resolved, so files below it are judged at the target", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, ".ssh"), join(ws, "keys"));
    assert.equal(canonicalPath(join(ws, "keys", "id_rsa")), join(outside, ".ssh", "id_rsa"));
    // The file below need not exist: the existing prefix is still resolved.
    assert.equal(canonicalPath(join(ws, "keys", "not-yet", "x")), join(outside, ".ssh", "not-yet", "x"));
  });

  test("a relative symlink is resolved against its own directory", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync("../outside/secret.txt", join(ws, "rel.txt"));
    assert.equal(canonicalPath(join(ws, "rel.txt")), join(outside, "secret.txt"));
  });

  test("a chain of symlinks is followed to the end", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, "secret.txt"), join(ws, "hop2"));
    symlinkSync(join(ws, "hop2"), join(ws, "hop1"));
    assert.equal(canonicalPath(join(ws, "hop1")), join(outside, "secret.txt"));
  });

  test("a dangling symlink is judged as where it points, not as itself", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, "created-later.txt"), join(ws, "dangling.txt"));
    assert.equal(canonicalPath(join(ws, "dangling.txt")), join(outside, "created-later.txt"));
  });

  test(".. after a symlinked directory climbs from the target, as the kernel does", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, ".ssh"), join(ws, "keys"));
    // The kernel reads ws/keys/../secret.txt as outside/secret.txt; a lexical `..` would say ws/secret.txt.
    assert.equal(canonicalPath(join(ws, "keys") + "/../secret.txt"), join(outside, "secret.txt"));
  });

  test("a symlink whose target contains a newline is refused", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, "a\nfiles.read:x"), join(ws, "nl"));
    refused(() => canonicalPath(join(ws, "nl")), /control or invisible/);
  });

  test("a symlink loop is refused", (t) => {
    const { ws } = makeTree(t);
    symlinkSync(join(ws, "loop-b"), join(ws, "loop-a"));
    symlinkSync(join(ws, "loop-a"), join(ws, "loop-b"));
    refused(() => canonicalPath(join(ws, "loop-a", "x")), /symbolic link/);
  });

  test("a path that exists and has no symlinks is unchanged", (t) => {
    const { ws } = makeTree(t);
    assert.equal(canonicalPath(join(ws, "docs", "a.txt")), join(ws, "docs", "a.txt"));
    assert.equal(canonicalPath(join(ws, "docs", "new", "deep.txt")), join(ws, "docs", "new", "deep.txt"));
  });

  test("resolveSymlinks: false leaves links alone", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, "secret.txt"), join(ws, "link.txt"));
    assert.equal(canonicalPath(join(ws, "link.txt"), { resolveSymlinks: false }), join(ws, "link.txt"));
  });
});

describe("canonicalPath: Unicode", () => {
  test("NFC and NFD spellings of a name give one canonical path", () => {
    const nfc = "/ws/caf\u00e9.txt";
    const nfd = "/ws/cafe\u0301.txt";
    assert.notEqual(nfc, nfd);
    assert.equal(canonicalPath(nfd, { resolveSymlinks: false }), nfc);
    assert.equal(canonicalPath(nfc, { resolveSymlinks: false }), nfc);
  });

  test("an NFD-named symlink on disk is still resolved (resolution uses the bytes given)", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, ".ssh"), join(ws, "cafe\u0301"));
    assert.equal(canonicalPath(join(ws, "cafe\u0301", "id_rsa")), join(outside, ".ssh", "id_rsa"));
  });

  test("a name whose NFC spelling resolves somewhere else is refused as ambiguous", (t) => {
    const { ws, outside } = makeTree(t);
    mkdirSync(join(ws, "cafe\u0301"));
    symlinkSync(join(outside, ".ssh"), join(ws, "caf\u00e9"));
    refused(() => canonicalPath(join(ws, "cafe\u0301", "id_rsa")), /ambiguous/);
  });

  test("a full-width solidus is not a separator: it stays one file name", () => {
    assert.equal(canonicalPath("/ws/..\uff0f..\uff0fetc\uff0fpasswd", { resolveSymlinks: false }), "/ws/..\uff0f..\uff0fetc\uff0fpasswd");
  });
});

describe("canonicalPath: forbidden characters", () => {
  const vectors: [string, string][] = [
    ["NUL", "/ws/a.txt\u0000.png"],
    ["newline", "/ws/a\n.txt"],
    ["carriage return", "/ws/a\r.txt"],
    ["tab", "/ws/a\t.txt"],
    ["escape", "/ws/\u001b[31ma"],
    ["DEL", "/ws/a\u007f"],
    ["C1 control", "/ws/a\u0085b"],
    ["right-to-left override", "/ws/invoice\u202etxt.exe"],
    ["left-to-right isolate", "/ws/a\u2066b"],
    ["zero-width space", "/ws/.ss\u200bh/id_rsa"],
    ["zero-width joiner", "/ws/a\u200db"],
    ["byte order mark", "/ws/\ufeffa"],
    ["line separator", "/ws/a\u2028b"],
  ];
  for (const [what, path] of vectors) {
    test(`refuses a path containing a ${what}`, () => {
      refused(() => canonicalPath(path), /control or invisible/);
      refused(() => parseScope(`files.read:${path}`), /control or invisible/);
    });
  }
});

describe("pathReadings: percent-encoded paths", () => {
  test("a path without escapes has one reading", () => {
    assert.deepEqual(pathReadings("/ws/a.txt", { resolveSymlinks: false }), ["/ws/a.txt"]);
  });

  test("%2e%2e gives both the literal and the decoded reading", () => {
    const readings = pathReadings("/ws/%2e%2e/%2e%2e/etc/passwd", { resolveSymlinks: false });
    assert.deepEqual(readings, ["/ws/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd"]);
  });

  test("upper-case %2E and an encoded slash %2f are decoded too", () => {
    assert.ok(pathReadings("/ws/%2E%2E%2Fsecret", { resolveSymlinks: false }).includes("/secret"));
  });

  test("double encoding (%252e) gives every layer", () => {
    const readings = pathReadings("/ws/%252e%252e/x", { resolveSymlinks: false });
    assert.deepEqual(readings, ["/ws/%252e%252e/x", "/ws/%2e%2e/x", "/x"]);
  });

  test("more layers of encoding than are decoded are refused, not passed through", () => {
    refused(() => pathReadings("/ws/%2525252e%2525252e/x", { resolveSymlinks: false }), /percent/);
  });

  test("a malformed escape is refused", () => {
    refused(() => pathReadings("/ws/%e0%a4%a/x"), /malformed/);
  });

  test("an escape that decodes to NUL or a newline is refused", () => {
    refused(() => pathReadings("/ws/a%00.txt"), /control/);
    refused(() => pathReadings("/ws/a%0aBcc.txt"), /control/);
  });

  test("relative readings resolve against cwd", () => {
    assert.deepEqual(pathReadings("%2e%2e/x", { cwd: "/home/u/ws", resolveSymlinks: false }), ["/home/u/ws/%2e%2e/x", "/home/u/x"]);
  });
});

describe("canonicalHost", () => {
  const vectors: [string, string, string][] = [
    ["lower-cases", "API.GitHub.COM", "api.github.com"],
    ["drops a trailing dot", "api.github.com.", "api.github.com"],
    ["turns an IDN into punycode", "bücher.example", "xn--bcher-kva.example"],
    ["maps full-width letters (NFKC)", "\uff41\uff50\uff49.github.com", "api.github.com"],
    ["maps the ideographic full stop to a dot", "api\u3002github.com", "api.github.com"],
    ["keeps an IPv4 address", "127.0.0.1", "127.0.0.1"],
    ["canonicalises IPv4 spellings", "0x7f.1", "127.0.0.1"],
    ["strips brackets from IPv6", "[::1]", "::1"],
    ["lower-cases IPv6", "FE80::1", "fe80::1"],
  ];
  for (const [what, input, expected] of vectors) {
    test(`${what}: ${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(canonicalHost(input), expected);
    });
  }

  test("a Cyrillic lookalike is a different host from the Latin one", () => {
    const lookalike = canonicalHost("\u0430pple.com"); // Cyrillic а
    assert.notEqual(lookalike, "apple.com");
    assert.match(lookalike, /^xn--/);
  });

  const refusedHosts: [string, string][] = [
    ["a port", "api.github.com:443"],
    ["a port on an all-hex host name", "face.bad:443"],
    ["a port on an IPv6 literal", "[::1]:8080"],
    ["userinfo", "user@api.github.com"],
    ["a path", "api.github.com/x"],
    ["a backslash", "api.github.com\\x"],
    ["a query", "api.github.com?x"],
    ["a space", "api github.com"],
    ["a newline", "api.github.com\nevil.com"],
    ["a zero-width space", "api\u200b.github.com"],
    ["nothing", ""],
    ["only a dot", "."],
  ];
  for (const [what, input] of refusedHosts) {
    test(`refuses a host with ${what}: ${JSON.stringify(input)}`, () => {
      refused(() => canonicalHost(input));
    });
  }
});

describe("canonicalBinary", () => {
  test("keeps a bare program name", () => {
    assert.equal(canonicalBinary("git"), "git");
    assert.equal(canonicalBinary("python3.12"), "python3.12");
  });

  test("resolves a path through .. and symlinks", (t) => {
    const { ws } = makeTree(t);
    writeFileSync(join(ws, "tool"), "#!/bin/sh\n");
    symlinkSync(join(ws, "tool"), join(ws, "alias"));
    assert.equal(canonicalBinary("./alias", { cwd: ws }), join(ws, "tool"));
    assert.equal(canonicalBinary(`${ws}/docs/../tool`), join(ws, "tool"));
  });

  test("refuses names with shell metacharacters, spaces or a leading dash", () => {
    for (const bad of ["rm -rf", "a;b", "$(id)", "`id`", "-x", "a|b", "", "git\u202e"]) refused(() => canonicalBinary(bad));
  });
});

describe("scope names and parseScope", () => {
  test("lower-cases and NFKC-normalises a scope name", () => {
    assert.equal(parseScopeName("Email.SEND"), "email.send");
    assert.equal(parseScopeName("\uff45mail.send"), "email.send"); // full-width e
    assert.equal(parseScope("Shell.Exec").text, "shell.exec");
  });

  test("refuses a Cyrillic lookalike in a scope name", () => {
    refused(() => parseScopeName("\u0435mail.send"), /not a scope name/); // Cyrillic е
    refused(() => parseScope("files.r\u0435ad:/ws/a"), /not a scope name/);
  });

  test("refuses malformed names", () => {
    for (const bad of ["", ".email", "email.", "email..send", "1email.send", "email send", "email/send", "*"]) refused(() => parseScopeName(bad));
  });

  test("a scope's resource grammar follows its family", () => {
    assert.equal(resourceKindOf("files.read"), "path");
    assert.equal(resourceKindOf("net.fetch"), "host");
    assert.equal(resourceKindOf("shell.exec"), "binary");
    assert.equal(resourceKindOf("email.send"), "opaque");
  });

  test("canonicalises the resource by family", () => {
    assert.equal(parseScope("files.read:/ws/a/../b", { resolveSymlinks: false }).text, "files.read:/ws/b");
    assert.equal(parseScope("net.fetch:API.GitHub.com.").text, "net.fetch:api.github.com");
    assert.equal(makeScope("net.fetch", "bücher.example").resource, "xn--bcher-kva.example");
    const s = parseScope("payments.send:Acme");
    assert.deepEqual({ name: s.name, resource: s.resource, kind: s.kind }, { name: "payments.send", resource: "Acme", kind: "opaque" });
  });

  test("splits at the first colon only, so a resource may contain colons", () => {
    const s = parseScope("files.read:/ws/a:b", { resolveSymlinks: false });
    assert.equal(s.name, "files.read");
    assert.equal(s.resource, "/ws/a:b");
  });

  test("a scope string with an injected newline or NUL is refused as a whole", () => {
    refused(() => parseScope("files.read:/ws/a\nfiles.read:/etc/passwd"));
    refused(() => parseScope("email.send\u0000"));
  });

  test("an empty opaque resource is refused", () => {
    refused(() => parseScope("payments.send:"), /empty/);
  });

  test("canonical scopes are a fixed point: parsing the text again gives the same text", (t) => {
    const { ws, outside } = makeTree(t);
    symlinkSync(join(outside, ".ssh"), join(ws, "keys"));
    for (const input of [`files.read:${ws}/keys/id_rsa`, `files.read:${ws}/docs/../docs/a.txt`, "net.fetch:B\u00fccher.Example.", "shell.exec:git"]) {
      const once = parseScope(input, { cwd: ws }).text;
      assert.equal(parseScope(once, { cwd: ws }).text, once, input);
    }
  });
});
