/**
 * Allowlist grammar and matching: what an entry admits, what it does not, and
 * the entries refused outright with a message that says what to write.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalHost, matchAllow, parseAllowlist, type AllowMatch } from "../../../src/sandbox/egress/allowlist.ts";
import { isAegis } from "../../helpers/errors.ts";

function allowed(m: AllowMatch): boolean {
  return m.allowed;
}
function reason(m: AllowMatch): string {
  if (m.allowed) assert.fail(`expected a refusal, got a match by ${m.rule.entry}`);
  return m.reason;
}

describe("parseAllowlist: accepted entries, canonicalised", () => {
  test("hosts are lower-cased, lose one trailing dot, and IDNs become punycode", () => {
    const rules = parseAllowlist(["API.GitHub.com.", "Bücher.Example", "  spaced.example  "]);
    assert.deepEqual(
      rules.map((r) => r.entry),
      ["api.github.com", "xn--bcher-kva.example", "spaced.example"],
    );
    assert.deepEqual(rules[0]?.ports, [443, 80]);
  });
  test("wildcards, ports, methods and paths", () => {
    const rules = parseAllowlist(["*.githubusercontent.com", "api.example.com:8443", "get,HEAD api.example.com/v1/", "POST hooks.example.com:8080/in"]);
    assert.deepEqual(
      rules.map((r) => r.entry),
      ["*.githubusercontent.com", "api.example.com:8443", "GET,HEAD api.example.com/v1/", "POST hooks.example.com:8080/in"],
    );
    assert.equal(rules[0]?.kind, "subdomains");
    assert.deepEqual(rules[1]?.ports, [8443]);
    assert.deepEqual(rules[2]?.methods, ["GET", "HEAD"]);
    assert.equal(rules[2].pathPrefix, "/v1/");
  });
  test("IP addresses and CIDR blocks, IPv6 in brackets, with ports", () => {
    const rules = parseAllowlist(["203.0.113.7", "203.0.113.0/24", "[2001:db8::1]", "[2001:DB8::]/32", "198.51.100.0/24:8080", "[2001:db8::5]:8443/api/"]);
    assert.deepEqual(
      rules.map((r) => r.entry),
      ["203.0.113.7", "203.0.113.0/24", "[2001:db8::1]", "[2001:db8::]/32", "198.51.100.0/24:8080", "[2001:db8::5]:8443/api/"],
    );
    assert.ok(rules.every((r) => r.kind === "address"));
  });
  test("an empty list is valid and allows nothing", () => {
    const rules = parseAllowlist([]);
    assert.match(reason(matchAllow(rules, { host: "api.github.com", port: 443 })), /allowlist is empty/);
  });
});

describe("parseAllowlist: refused entries say why and what to write", () => {
  const cases: [string, RegExp][] = [
    ["*", /every host; list the hosts/],
    ["*.com", /every host under the top-level domain \.com; name the domain, e.g\. \*\.example\.com/],
    ["*.co.uk", /public suffix \.co\.uk/],
    ["*.*.example.com", /not a whole leftmost label/],
    ["api*.example.com", /not a whole leftmost label/],
    ["foo.*.example.com", /not a whole leftmost label/],
    ["https://api.github.com", /has a scheme \(https:\/\/\); write the host alone, e\.g\. "api\.github\.com"/],
    ["http://api.github.com/", /scheme/],
    ["user@api.github.com", /user info/],
    ["user:pass@api.github.com", /user info/],
    ["api..example.com", /empty label/],
    ["api.example.com..", /empty label/],
    [".example.com", /write \*\.example\.com for its subdomains, or example\.com for the host itself/],
    ["", /is empty/],
    ["   ", /is empty/],
    ["api.example.com:0", /invalid port "0"/],
    ["api.example.com:65536", /invalid port/],
    ["api.example.com:https", /invalid port/],
    ["api.example.com:", /invalid port/],
    ["2001:db8::1", /IPv6 address without brackets; write it as \[2001:db8::1\]/],
    ["127.1", /not an IP address or CIDR block/],
    ["0x7f.0.0.1", /non-canonical spelling of the IP address 127\.0\.0\.1; write 127\.0\.0\.1/],
    ["010.0.0.1", /not an IP address/],
    ["10.0.0.5/8", /host bits set/],
    ["0.0.0.0/0", /covers every IPv4 address/],
    ["[10.0.0.1]", /IPv4 addresses without them/],
    ["[2001:db8::1", /unclosed \[/],
    ["GET api.example.com/v1/ extra", /more than two parts/],
    ["G ET api.example.com", /more than two parts/],
    ["GET;HEAD api.example.com", /invalid method list/],
    ["CONNECT api.example.com/v1/", /CONNECT with a path/],
    ["api.example.com/v1/../admin", /\. or \.\. segment/],
    ["api.example.com/v1/%2e%2e/admin", /encoded slash, backslash, dot or NUL/],
    ["api.example.com/v1?x=1", /query or fragment/],
    ["api.example.com/a\\b", /backslash/],
    ["api.example.com:443x", /invalid port/],
    ["exa mple.com", /where a method list goes/],
    ["bad_host-.example", /not a valid host name/],
    ["api.example.com\u200b", /control or invisible character/],
  ];
  for (const [entry, message] of cases) {
    test(`refuses ${JSON.stringify(entry)}`, () => {
      assert.throws(() => parseAllowlist([entry]), isAegis("CONFIG_INVALID", message));
    });
  }
});

describe("matchAllow", () => {
  const rules = parseAllowlist(["api.github.com", "*.githubusercontent.com", "api.example.com:8443", "GET,HEAD data.example.com/v1/", "POST hooks.example.com/in", "CONNECT,GET tunnel.example.com", "203.0.113.0/24", "[2001:db8::]/32"]);

  test("an exact host on its default ports, in any case and with a trailing dot", () => {
    assert.ok(allowed(matchAllow(rules, { host: "api.github.com", port: 443 })));
    assert.ok(allowed(matchAllow(rules, { host: "API.GITHUB.COM.", port: 80 })));
    assert.match(reason(matchAllow(rules, { host: "api.github.com", port: 22 })), /allowlisted on ports 443, 80 only, not 22/);
    assert.match(reason(matchAllow(rules, { host: "github.com", port: 443 })), /github\.com is not in this skill's allowlist \(allowed: api\.github\.com, /);
    assert.match(reason(matchAllow(rules, { host: "evil-api.github.com", port: 443 })), /not in this skill's allowlist/);
    assert.match(reason(matchAllow(rules, { host: "api.github.com.evil.example", port: 443 })), /not in this skill's allowlist/);
  });
  test("a wildcard matches subdomains at any depth but never the apex", () => {
    assert.ok(allowed(matchAllow(rules, { host: "raw.githubusercontent.com", port: 443 })));
    assert.ok(allowed(matchAllow(rules, { host: "a.b.githubusercontent.com", port: 443 })));
    assert.match(reason(matchAllow(rules, { host: "githubusercontent.com", port: 443 })), /not in this skill's allowlist/);
    assert.match(reason(matchAllow(rules, { host: "evilgithubusercontent.com", port: 443 })), /not in this skill's allowlist/);
  });
  test("an explicit port replaces the defaults", () => {
    assert.ok(allowed(matchAllow(rules, { host: "api.example.com", port: 8443 })));
    assert.match(reason(matchAllow(rules, { host: "api.example.com", port: 443 })), /port 8443 only, not 443/);
  });
  test("methods and path prefixes bind plain-HTTP requests", () => {
    assert.ok(allowed(matchAllow(rules, { host: "data.example.com", port: 80, method: "GET", path: "/v1/items" })));
    assert.ok(allowed(matchAllow(rules, { host: "data.example.com", port: 80, method: "HEAD", path: "/v1/" })));
    assert.match(reason(matchAllow(rules, { host: "data.example.com", port: 80, method: "POST", path: "/v1/items" })), /POST is not allowed to data\.example\.com \(allowed methods: GET, HEAD\)/);
    assert.match(reason(matchAllow(rules, { host: "data.example.com", port: 80, method: "GET", path: "/v2/items" })), /\/v2\/items on data\.example\.com is outside the allowed path prefix \/v1\//);
    assert.match(reason(matchAllow(rules, { host: "data.example.com", port: 80, method: "GET", path: "/v1" })), /outside the allowed path prefix/);
    // Methods are case-sensitive in HTTP: `get` is not GET.
    assert.equal(allowed(matchAllow(rules, { host: "data.example.com", port: 80, method: "get", path: "/v1/x" })), false);
  });
  test("a prefix without a trailing slash matches whole segments only", () => {
    assert.ok(allowed(matchAllow(rules, { host: "hooks.example.com", port: 80, method: "POST", path: "/in" })));
    assert.ok(allowed(matchAllow(rules, { host: "hooks.example.com", port: 80, method: "POST", path: "/in/1" })));
    assert.equal(allowed(matchAllow(rules, { host: "hooks.example.com", port: 80, method: "POST", path: "/inbox" })), false);
  });
  test("paths that a server could decode into another path are not matched by prefix", () => {
    for (const path of ["/v1/..%2fadmin", "/v1/%2e%2e/admin", "/v1/..;/admin", "/v1/a%5c..%5cadmin", "/v1/%00", "/v1/%zz"]) {
      assert.match(reason(matchAllow(rules, { host: "data.example.com", port: 80, method: "GET", path })), /cannot be checked against the allowed path prefix/, path);
    }
    // A host-only entry does not care about the path.
    assert.ok(allowed(matchAllow(rules, { host: "api.github.com", port: 80, method: "GET", path: "/v1/..%2fadmin" })));
  });
  test("a CONNECT tunnel matches only entries without methods or paths (or that list CONNECT)", () => {
    assert.match(reason(matchAllow(rules, { host: "data.example.com", port: 443 })), /can check on plain-HTTP requests only; a CONNECT tunnel \(HTTPS\) hides them\. To allow HTTPS, list data\.example\.com without methods or a path/);
    assert.equal(allowed(matchAllow(rules, { host: "hooks.example.com", port: 443, method: "CONNECT" })), false);
    assert.ok(allowed(matchAllow(rules, { host: "tunnel.example.com", port: 443 })));
    assert.ok(allowed(matchAllow(rules, { host: "tunnel.example.com", port: 80, method: "GET", path: "/" })));
    assert.equal(allowed(matchAllow(rules, { host: "tunnel.example.com", port: 80, method: "POST", path: "/" })), false);
  });
  test("IP literals match only entries naming them; host names never admit an IP, nor an IP a host", () => {
    assert.ok(allowed(matchAllow(rules, { host: "203.0.113.9", port: 443 })));
    assert.ok(allowed(matchAllow(rules, { host: "[2001:db8:1::1]", port: 443 })));
    assert.ok(allowed(matchAllow(rules, { host: "2001:db8:1::1", port: 443 })));
    assert.match(reason(matchAllow(rules, { host: "198.51.100.1", port: 443 })), /198\.51\.100\.1 is an IP address, and IP addresses are reachable only when this skill's allowlist names them/);
    assert.match(reason(matchAllow(rules, { host: "[::1]", port: 443 })), /::1 is an IP address/);
    // Numeric spellings a resolver would read as 127.0.0.1 are IP literals too.
    for (const host of ["2130706433", "0x7f.1", "127.1", "0177.0.0.1"]) {
      assert.match(reason(matchAllow(rules, { host, port: 443 })), /127\.0\.0\.1 is an IP address/, host);
    }
    // The mapped form of a listed IPv4 address is the same address.
    assert.ok(allowed(matchAllow(rules, { host: "[::ffff:203.0.113.9]", port: 443 })));
  });
  test("invalid hosts are refused, not guessed at", () => {
    for (const host of ["", "a..b", "exa mple.com", "[127.0.0.1]", "fe80::1%eth0", "[fe80::1%25eth0]", "-bad.example", "x".repeat(300)]) {
      assert.match(reason(matchAllow(rules, { host, port: 443 })), /not a valid host name|is an IP address/, host);
    }
  });
  test("canonicalHost reads hosts the way the request would be routed", () => {
    assert.deepEqual(canonicalHost("Bücher.Example."), { kind: "name", name: "xn--bcher-kva.example" });
    assert.equal(canonicalHost("0x7f.1")?.kind, "ip");
    assert.equal(canonicalHost("[::ffff:7f00:1]")?.kind, "ip");
  });
  test("long allowlists are summarised in refusals", () => {
    const many = parseAllowlist(Array.from({ length: 12 }, (_, i) => `h${String(i)}.example.com`));
    assert.match(reason(matchAllow(many, { host: "x.example.com", port: 443 })), /h7\.example\.com and 4 more\)/);
  });
});
