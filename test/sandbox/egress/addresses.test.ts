/**
 * The address classifier, probed at both edges of every range (first and
 * last address inside, the neighbours outside), through IPv4-mapped and NAT64
 * IPv6 forms, and against node:net's own BlockList as an independent oracle
 * for the private/loopback/link-local blocks.
 */
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { describe, test } from "node:test";
import { cidrContains, classifyAddress, formatIp, isPublicAddress, parseCidr, parseIp, type AddressClass } from "../../../src/sandbox/egress/addresses.ts";
import { isAegis } from "../../helpers/errors.ts";

function expectClass(cases: readonly (readonly [string, AddressClass])[]): void {
  for (const [ip, kind] of cases) assert.equal(classifyAddress(ip), kind, `${ip} should be ${kind}`);
}

describe("classifyAddress: IPv4 ranges at their edges", () => {
  test("0.0.0.0/8 is unspecified ('this network')", () => {
    expectClass([["0.0.0.0", "unspecified"], ["0.255.255.255", "unspecified"], ["1.0.0.0", "public"]]);
  });
  test("10.0.0.0/8 is private", () => {
    expectClass([["9.255.255.255", "public"], ["10.0.0.0", "private"], ["10.255.255.255", "private"], ["11.0.0.0", "public"]]);
  });
  test("100.64.0.0/10 is CGNAT (Alibaba metadata 100.100.100.200 inside it is metadata)", () => {
    expectClass([
      ["100.63.255.255", "public"],
      ["100.64.0.0", "cgnat"],
      ["100.127.255.255", "cgnat"],
      ["100.128.0.0", "public"],
      ["100.100.100.200", "metadata"],
      ["100.100.100.199", "cgnat"],
    ]);
  });
  test("127.0.0.0/8 is loopback", () => {
    expectClass([["126.255.255.255", "public"], ["127.0.0.0", "loopback"], ["127.0.0.1", "loopback"], ["127.255.255.255", "loopback"], ["128.0.0.0", "public"]]);
  });
  test("169.254.0.0/16 is link-local, and 169.254.169.254 / 169.254.170.2 are metadata", () => {
    expectClass([
      ["169.253.255.255", "public"],
      ["169.254.0.0", "link-local"],
      ["169.254.169.253", "link-local"],
      ["169.254.169.254", "metadata"],
      ["169.254.169.255", "link-local"],
      ["169.254.170.2", "metadata"],
      ["169.254.255.255", "link-local"],
      ["169.255.0.0", "public"],
    ]);
  });
  test("172.16.0.0/12 is private", () => {
    expectClass([["172.15.255.255", "public"], ["172.16.0.0", "private"], ["172.31.255.255", "private"], ["172.32.0.0", "public"]]);
  });
  test("192.0.0.0/24 is reserved (192.0.0.192 metadata), 192.0.2.0/24 documentation, 192.88.99.0/24 reserved", () => {
    expectClass([
      ["191.255.255.255", "public"],
      ["192.0.0.0", "reserved"],
      ["192.0.0.255", "reserved"],
      ["192.0.0.192", "metadata"],
      ["192.0.1.0", "public"],
      ["192.0.1.255", "public"],
      ["192.0.2.0", "documentation"],
      ["192.0.2.255", "documentation"],
      ["192.0.3.0", "public"],
      ["192.88.98.255", "public"],
      ["192.88.99.0", "reserved"],
      ["192.88.99.255", "reserved"],
      ["192.88.100.0", "public"],
    ]);
  });
  test("192.168.0.0/16 is private", () => {
    expectClass([["192.167.255.255", "public"], ["192.168.0.0", "private"], ["192.168.255.255", "private"], ["192.169.0.0", "public"]]);
  });
  test("198.18.0.0/15 is benchmarking, 198.51.100.0/24 and 203.0.113.0/24 documentation", () => {
    expectClass([
      ["198.17.255.255", "public"],
      ["198.18.0.0", "benchmarking"],
      ["198.19.255.255", "benchmarking"],
      ["198.20.0.0", "public"],
      ["198.51.99.255", "public"],
      ["198.51.100.0", "documentation"],
      ["198.51.100.255", "documentation"],
      ["198.51.101.0", "public"],
      ["203.0.112.255", "public"],
      ["203.0.113.0", "documentation"],
      ["203.0.113.255", "documentation"],
      ["203.0.114.0", "public"],
    ]);
  });
  test("224.0.0.0/4 is multicast, 240.0.0.0/4 reserved, 255.255.255.255 broadcast", () => {
    expectClass([
      ["223.255.255.255", "public"],
      ["224.0.0.0", "multicast"],
      ["239.255.255.255", "multicast"],
      ["240.0.0.0", "reserved"],
      ["255.255.255.254", "reserved"],
      ["255.255.255.255", "broadcast"],
    ]);
  });
  test("ordinary public addresses are public", () => {
    expectClass([["8.8.8.8", "public"], ["1.1.1.1", "public"], ["93.184.215.14", "public"], ["223.255.255.254", "public"]]);
  });
});

describe("classifyAddress: IPv6", () => {
  test(":: is unspecified and ::1 loopback; ::2 and the rest of ::/8 reserved", () => {
    expectClass([["::", "unspecified"], ["::1", "loopback"], ["::2", "reserved"], ["0:0:0:0:0:0:0:1", "loopback"], ["ff::", "reserved"], ["100::", "reserved"], ["100::ffff:ffff:ffff:ffff", "reserved"], ["100:0:0:1::", "reserved"]]);
  });
  test("fc00::/7 is unique-local, fd00:ec2::254 is metadata", () => {
    expectClass([
      ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
      ["fc00::", "unique-local"],
      ["fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"],
      ["fd00:ec2::254", "metadata"],
      ["fd00:ec2::253", "unique-local"],
      ["fd00:ec2::255", "unique-local"],
    ]);
  });
  test("fe80::/10 is link-local (zones ignored), fec0::/10 reserved, ff00::/8 multicast", () => {
    expectClass([
      ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
      ["fe80::", "link-local"],
      ["fe80::1%eth0", "link-local"],
      ["febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"],
      ["fec0::", "reserved"],
      ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
      ["ff00::", "multicast"],
      ["ff02::1", "multicast"],
      ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"],
    ]);
  });
  test("2001:db8::/32 and 3fff::/20 are documentation; 2001::/23 and 2002::/16 reserved", () => {
    expectClass([
      ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "public"],
      ["2001:db8::", "documentation"],
      ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"],
      ["2001:db9::", "public"],
      ["2001::", "reserved"],
      ["2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
      ["2001:200::", "public"],
      ["2002::", "reserved"],
      ["2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
      ["2003::", "public"],
      ["3fff::", "documentation"],
      ["3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"],
      ["3fff:1000::", "public"],
    ]);
  });
  test("only 2000::/3 is global unicast", () => {
    expectClass([["1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"], ["2000::", "public"], ["2606:4700::1111", "public"], ["3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "public"], ["4000::", "reserved"]]);
  });
  test("IPv4-mapped addresses are judged by the IPv4 address they carry, in every spelling", () => {
    expectClass([
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["0:0:0:0:0:ffff:a00:5", "private"],
      ["::ffff:169.254.169.254", "metadata"],
      ["::FFFF:A9FE:A9FE", "metadata"],
      ["::ffff:100.64.0.1", "cgnat"],
      ["::ffff:8.8.8.8", "public"],
      ["::ffff:0.0.0.0", "unspecified"],
    ]);
  });
  test("NAT64 64:ff9b::/96 is judged by the embedded IPv4 address; local-use 64:ff9b:1::/48 is reserved", () => {
    expectClass([
      ["64:ff9b::10.0.0.5", "private"],
      ["64:ff9b::a9fe:a9fe", "metadata"],
      ["64:ff9b::7f00:1", "loopback"],
      ["64:ff9b::808:808", "public"],
      ["64:ff9b::1:0:0", "reserved"], // outside the /96: in 64:ff9b::/48 but not the well-known prefix
      ["64:ff9b:1::a00:5", "reserved"],
      ["64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"],
    ]);
  });
  test("deprecated IPv4-compatible ::a.b.c.d is reserved whatever it carries", () => {
    expectClass([["::8.8.8.8", "reserved"], ["::127.0.0.1", "reserved"]]);
  });
});

describe("parsing", () => {
  test("refuses non-canonical and malformed spellings instead of guessing", () => {
    for (const bad of ["010.0.0.1", "127.1", "0x7f.0.0.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", " 1.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "12345::", "::1.2.3", "g::1", "1.2.3.4:80", "", "%eth0"]) {
      assert.equal(parseIp(bad), undefined, bad);
      assert.throws(() => classifyAddress(bad), TypeError, bad);
    }
  });
  test("formats IPv6 per RFC 5952", () => {
    const cases: [string, string][] = [
      ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::", "::"],
      ["::ffff:1.2.3.4", "::ffff:102:304"],
      ["1::", "1::"],
    ];
    for (const [input, out] of cases) {
      const ip = parseIp(input);
      assert.ok(ip, input);
      assert.equal(formatIp(ip), out);
    }
  });
  test("isPublicAddress is false for anything that is not a public address, including garbage", () => {
    assert.equal(isPublicAddress("8.8.8.8"), true);
    assert.equal(isPublicAddress("10.0.0.1"), false);
    assert.equal(isPublicAddress("not-an-ip"), false);
  });
});

describe("CIDR blocks", () => {
  test("parses blocks and single addresses; mapped IPv6 matches its IPv4 block", () => {
    const block = parseCidr("127.0.0.1/32");
    const mapped = parseIp("::ffff:127.0.0.1");
    assert.ok(mapped);
    assert.equal(cidrContains(block, mapped), true);
    const v6 = parseCidr("[2001:db8::]/32");
    const inside = parseIp("2001:db8:ffff::1");
    const outside = parseIp("2001:db9::1");
    assert.ok(inside && outside);
    assert.equal(cidrContains(v6, inside), true);
    assert.equal(cidrContains(v6, outside), false);
    const one = parseCidr("203.0.113.7");
    assert.equal(one.prefix, 32);
  });
  test("refuses host bits, /0, bad prefixes and zones, saying what to write", () => {
    assert.throws(() => parseCidr("10.0.0.5/8"), isAegis("CONFIG_INVALID", /write 10\.0\.0\.0\/8 for the whole network, or 10\.0\.0\.5 for the one address/));
    assert.throws(() => parseCidr("0.0.0.0/0"), isAegis("CONFIG_INVALID", /covers every IPv4 address/));
    assert.throws(() => parseCidr("::/0"), isAegis("CONFIG_INVALID", /covers every IPv6 address/));
    assert.throws(() => parseCidr("10.0.0.0/33"), isAegis("CONFIG_INVALID", /prefixes are 0 to 32/));
    assert.throws(() => parseCidr("10.0.0.0/08"), isAegis("CONFIG_INVALID", /invalid prefix/));
    assert.throws(() => parseCidr("fe80::1%eth0"), isAegis("CONFIG_INVALID", /zone/));
    assert.throws(() => parseCidr("example.com/24"), isAegis("CONFIG_INVALID", /not an IP address or CIDR block/));
  });
  test("agrees with node:net BlockList on the RFC 1918, loopback and link-local blocks, edge addresses included", () => {
    const oracle = new BlockList();
    for (const [net, prefix] of [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["127.0.0.0", 8], ["169.254.0.0", 16]] as const) oracle.addSubnet(net, prefix, "ipv4");
    const probes = ["9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0", "172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0", "192.167.255.255", "192.168.0.0", "192.168.255.255", "192.169.0.0", "126.255.255.255", "127.0.0.0", "127.255.255.255", "128.0.0.0", "169.253.255.255", "169.254.0.0", "169.254.255.255", "169.255.0.0"];
    for (const ip of probes) {
      const kind = classifyAddress(ip);
      const ours = kind === "private" || kind === "loopback" || kind === "link-local" || kind === "metadata";
      assert.equal(ours, oracle.check(ip, "ipv4"), ip);
    }
  });
});
