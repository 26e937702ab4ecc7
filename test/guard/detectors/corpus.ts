/**
 * The detector corpus: for every detector, positives (synthetic values of
 * the real shape, generated from a fixed seed, embedded in config files,
 * logs, chat messages, JSON, shell) and look-alike negatives (near misses:
 * wrong length, wrong prefix, failed checksum, placeholders, ids and digests
 * in the same kind of text). Nothing here is a real secret.
 */
import { createHash } from "node:crypto";

// ---------------------------------------------------------------------------
// Deterministic randomness

export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  str(alphabet: string, n: number): string {
    let s = "";
    for (let i = 0; i < n; i += 1) s += alphabet.charAt(Math.floor(this.next() * alphabet.length));
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 1) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

export const LOWER = "abcdefghijklmnopqrstuvwxyz";
export const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const DIGITS = "0123456789";
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = "0123456789abcdef";
export const B64 = `${ALNUM}+/`;
export const B64URL = `${ALNUM}-_`;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

const b64url = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

function luhnComplete(partial: string): string {
  for (let d = 0; d <= 9; d += 1) {
    const candidate = partial + String(d);
    let sum = 0;
    let dbl = false;
    for (let i = candidate.length - 1; i >= 0; i -= 1) {
      let x = Number(candidate.charAt(i));
      if (dbl) {
        x *= 2;
        if (x > 9) x -= 9;
      }
      sum += x;
      dbl = !dbl;
    }
    if (sum % 10 === 0) return candidate;
  }
  throw new Error("unreachable");
}

/** ISO 7064 mod 97-10 over an IBAN-ordered string, computed independently of the code under test. */
function mod97(s: string): number {
  let r = 0;
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charAt(i);
    const digits = /[A-Z]/.test(c) ? String(c.charCodeAt(0) - 55) : c;
    for (let j = 0; j < digits.length; j += 1) r = (r * 10 + Number(digits.charAt(j))) % 97;
  }
  return r;
}

export function makeIban(country: string, bban: string): string {
  const check = 98 - mod97(`${bban}${country}00`);
  return `${country}${String(check).padStart(2, "0")}${bban}`;
}

const groupBy4 = (s: string): string => s.replace(/(.{4})(?=.)/g, "$1 ");

function bech32Checksum(hrp: string, data: number[]): number[] {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  const polymod = (values: number[]): number => {
    let chk = 1;
    for (const v of values) {
      const b = chk >>> 25;
      chk = ((chk & 0x1ffffff) << 5) ^ v;
      for (let i = 0; i < 5; i += 1) if ((b >>> i) & 1) chk ^= gen[i] ?? 0;
    }
    return chk >>> 0;
  };
  const codes = Array.from({ length: hrp.length }, (_, i) => hrp.charCodeAt(i));
  const values = [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31), ...data, 0, 0, 0, 0, 0, 0];
  const mod = polymod(values) ^ 1;
  return Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
}

function ageKey(r: Rng): string {
  const data = Array.from({ length: 52 }, () => r.int(0, 31));
  const hrp = "age-secret-key-";
  const all = [...data, ...bech32Checksum(hrp, data)];
  return `${hrp}1${all.map((v) => BECH32.charAt(v)).join("")}`.toUpperCase();
}

function jwtFor(r: Rng, header: Record<string, unknown> = { alg: r.pick(["HS256", "RS256", "ES256", "EdDSA"]), typ: "JWT" }): string {
  const payload = { sub: r.str(DIGITS, 9), name: r.pick(["Ada Park", "Lin Chen", "Sam Ortiz"]), iat: 1700000000 + r.int(0, 9999999), scope: "read:mail" };
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${r.str(B64URL, r.pick([43, 86]))}`;
}

function pemBlock(r: Rng, label: string, lines = r.int(4, 12), eol = "\n"): string {
  const body = Array.from({ length: lines }, () => r.str(B64, 64)).join(eol);
  const block = label === "PGP" ? "PGP PRIVATE KEY BLOCK" : `${label}PRIVATE KEY`;
  const headers = label === "PGP" ? `Version: GnuPG v2${eol}${eol}` : "";
  return `-----BEGIN ${block}-----${eol}${headers}${body}${eol}${r.str(B64, 20)}==${eol}-----END ${block}-----`;
}

function discordToken(r: Rng): string {
  const id = String(r.int(1, 9)) + r.str(DIGITS, r.pick([17, 18]));
  return `${b64url(id)}.${r.str(B64URL, 6)}.${r.str(B64URL, 38)}`;
}

function cardNumber(r: Rng): string {
  const kind = r.pick(["visa", "mc", "mc2", "amex", "discover", "jcb", "diners", "unionpay"]);
  const prefix = {
    visa: "4",
    mc: String(r.int(51, 55)),
    mc2: String(r.int(2221, 2720)),
    amex: r.pick(["34", "37"]),
    discover: "6011",
    jcb: String(r.int(3528, 3589)),
    diners: r.pick(["36", "38"]),
    unionpay: "62",
  }[kind];
  const length = kind === "amex" ? 15 : kind === "diners" ? 14 : 16;
  if (prefix === undefined) throw new Error(kind);
  return luhnComplete(prefix + r.str(DIGITS, length - prefix.length - 1));
}

function formatCard(r: Rng, digits: string): string {
  const style = r.pick(["plain", "space", "dash"]);
  if (style === "plain") return digits;
  const sep = style === "space" ? " " : "-";
  if (digits.length === 15) return `${digits.slice(0, 4)}${sep}${digits.slice(4, 10)}${sep}${digits.slice(10)}`;
  if (digits.length === 14) return digits;
  return digits.replace(/(\d{4})(?=\d)/g, `$1${sep}`);
}

function ssnValue(r: Rng): string {
  let area = r.int(1, 899);
  if (area === 666) area = 667;
  return `${String(area).padStart(3, "0")}-${String(r.int(1, 99)).padStart(2, "0")}-${String(r.int(1, 9999)).padStart(4, "0")}`;
}

const IBAN_BBAN: Record<string, (r: Rng) => string> = {
  DE: (r) => r.str(DIGITS, 18),
  FR: (r) => r.str(DIGITS, 10) + r.str(UPPER + DIGITS, 11) + r.str(DIGITS, 2),
  GB: (r) => r.str(UPPER, 4) + r.str(DIGITS, 14),
  NL: (r) => r.str(UPPER, 4) + r.str(DIGITS, 10),
  ES: (r) => r.str(DIGITS, 20),
  IT: (r) => r.str(UPPER, 1) + r.str(DIGITS, 10) + r.str(DIGITS, 12),
  BE: (r) => r.str(DIGITS, 12),
  CH: (r) => r.str(DIGITS, 17),
  AT: (r) => r.str(DIGITS, 16),
  PL: (r) => r.str(DIGITS, 24),
  NO: (r) => r.str(DIGITS, 11),
  IE: (r) => r.str(UPPER, 4) + r.str(DIGITS, 14),
  SE: (r) => r.str(DIGITS, 20),
  PT: (r) => r.str(DIGITS, 21),
  MT: (r) => r.str(UPPER, 4) + r.str(DIGITS, 5) + r.str(ALNUM.toUpperCase(), 18),
};

// ---------------------------------------------------------------------------
// Surrounding text

type Context = (value: string, r: Rng) => string;

const envLine = (key: string): Context => (v) => `# production settings\nNODE_ENV=production\n${key}=${v}\nLOG_LEVEL=info\n`;
const exportLine = (key: string): Context => (v) => `$ export ${key}="${v}"\n$ ./deploy.sh --region eu-west-1\n`;
const yamlLine = (key: string): Context => (v) => `service:\n  name: billing-worker\n  ${key}: ${v}\n  replicas: 3\n`;
const jsonLine = (key: string): Context => (v) => `{"service": "billing", "${key}": "${v}", "timeout_ms": 3000}`;
const logLine: Context = (v) => `2024-06-01T09:14:22.381Z DEBUG http.client sending request with credential ${v} to upstream (attempt 2)`;
const chatLine: Context = (v) => `hey, here is what I have so far, can you check why it fails? ${v} — thanks!`;
const codeLine =
  (fn: string): Context =>
  (v) =>
    `const client = new ${fn}({ retries: 3, credential: "${v}" });\nawait client.ping();`;
const headerLine = (scheme: string): Context => (v) => `> GET /v1/me HTTP/1.1\n> Host: api.internal\n> Authorization: ${scheme} ${v}\n> Accept: */*`;
const markdownLine: Context = (v) => `## Setup\n\nPaste the token into \`.env\`:\n\n\`\`\`\n${v}\n\`\`\`\n`;

/** Contexts where a self-describing token may appear with or without a key. */
function anywhere(envKey: string, jsonKey: string): Context[] {
  return [envLine(envKey), exportLine(envKey), yamlLine(jsonKey), jsonLine(jsonKey), logLine, chatLine, codeLine("Client"), markdownLine];
}

export interface Positive {
  readonly text: string;
  /** The sensitive substrings that must be found and must not survive redaction. */
  readonly values: readonly string[];
}

export interface DetectorCorpus {
  readonly id: string;
  readonly positives: readonly Positive[];
  readonly negatives: readonly string[];
}

interface Spec {
  readonly id: string;
  readonly gen: (r: Rng, i: number) => string;
  readonly contexts: readonly Context[];
  readonly negatives: (r: Rng) => readonly string[];
  readonly count?: number;
}

/** A prose/log line: look-alike values with no assignment around them. */
const prose = (v: string): string => `note: the string ${v} showed up in the fixture; it is not a credential`;

const SPECS: readonly Spec[] = [
  // ----------------------------------------------------------------- structured
  {
    id: "private-key",
    gen: (r, i) => pemBlock(r, ["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "", "PGP", "DSA "][i % 7] ?? ""),
    contexts: [
      (v) => `$ cat ~/.ssh/id_deploy\n${v}\n$ ls -la`,
      (v) => `tls:\n  key: |\n    ${v.split("\n").join("\n    ")}\n  cert: cert.pem`,
      (v) => JSON.stringify({ type: "service_account", private_key: `${v}\n`, client_email: "svc@proj.iam.gserviceaccount.com" }),
      (v) => `Here is the key file, can you figure out why openssl rejects it?\n\n${v}\n`,
      (v) => `ERROR failed to parse key: ${v.slice(0, Math.floor(v.length / 2))}`,
    ],
    negatives: (r) => [
      `-----BEGIN PUBLIC KEY-----\n${r.str(B64, 64)}\n${r.str(B64, 64)}\n-----END PUBLIC KEY-----`,
      `-----BEGIN CERTIFICATE-----\n${r.str(B64, 64)}\n${r.str(B64, 64)}\n${r.str(B64, 40)}==\n-----END CERTIFICATE-----`,
      "-----BEGIN PRIVATE KEY-----\n<paste your key here>\n-----END PRIVATE KEY-----",
      "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
      "To export it, look for the line that says BEGIN RSA PRIVATE KEY and copy until END RSA PRIVATE KEY.",
      "const PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;",
      `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${r.str(B64, 43)} deploy@ci`,
      "-----BEGIN OPENSSH PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END OPENSSH PRIVATE KEY-----",
      `-----BEGIN CERTIFICATE REQUEST-----\n${r.str(B64, 64)}\n${r.str(B64, 64)}\n-----END CERTIFICATE REQUEST-----`,
      "openssl genpkey -algorithm ed25519 -out key.pem  # writes a PRIVATE KEY block",
      "grep -r 'PRIVATE KEY' . --include=*.pem | wc -l",
    ],
  },
  {
    id: "jwt",
    count: 200,
    gen: (r) => jwtFor(r),
    contexts: [headerLine("Bearer"), jsonLine("id_token"), (v) => `https://app.example.org/callback#access_token=${v}&token_type=bearer`, logLine, chatLine, (v) => `Cookie: session=${v}; Path=/; HttpOnly`],
    negatives: (r) => [
      `${b64url('{"typ":"JWT"}')}.${b64url('{"sub":"1"}')}.${r.str(B64URL, 43)}`,
      `${b64url('{"kid":"k1","typ":"JWT"}')}.${b64url('{"sub":"2"}')}.${r.str(B64URL, 43)}`,
      prose(`eyJ${r.str(B64URL, 30)}.${r.str(B64URL, 40)}.${r.str(B64URL, 43)}`),
      prose("eyJhbGciOiJIUzI1NiJ9"),
      prose(`eyJhbGciOiJIUzI1NiJ9.${b64url("{}")}`),
      `${b64url('["alg","HS256"]')}.${b64url('{"a":1}')}.${r.str(B64URL, 43)}`,
      "The JWT header is base64url, for example eyJ... followed by a dot.",
      `data:application/json;base64,${b64url('{"name":"report","rows":12}')}`,
      `tokens look like header.payload.signature (see RFC 7519)`,
      `keyJ${r.str(B64URL, 20)}.eyJ${r.str(B64URL, 20)}.${r.str(B64URL, 20)}`,
    ],
  },
  // ----------------------------------------------------------------- cloud
  {
    id: "aws-access-key-id",
    gen: (r) => `${r.pick(["AKIA", "ASIA", "AKIA", "ABIA"])}${r.str(BASE32, 16)}`,
    contexts: [...anywhere("AWS_ACCESS_KEY_ID", "aws_access_key_id"), (v) => `[default]\naws_access_key_id = ${v}\nregion = us-east-1`],
    negatives: (r) => [
      prose("AKIAIOSFODNN7EXAMPLE"),
      prose(`AKIA${r.str(BASE32, 15)}`),
      prose(`AKIA${r.str(BASE32, 17)}`),
      prose(`akia${r.str(BASE32, 16).toLowerCase()}`),
      prose(`AKIA${r.str("0189", 16)}`),
      prose("AKIAXXXXXXXXXXXXXXXX"),
      prose(`XAKIA${r.str(BASE32, 16)}`),
      "Regions: ASIA PACIFIC (Tokyo), EUROPE (Frankfurt)",
      `arn:aws:iam::${r.str(DIGITS, 12)}:user/deploy`,
      `instance i-${r.str(HEX, 17)} in subnet-${r.str(HEX, 8)}`,
      prose(`AKIA${r.str(BASE32, 8)}-${r.str(BASE32, 7)}`),
    ],
  },
  {
    id: "aws-secret-access-key",
    count: 200,
    gen: (r) => r.str(B64, 40),
    contexts: [
      envLine("AWS_SECRET_ACCESS_KEY"),
      exportLine("AWS_SECRET_ACCESS_KEY"),
      (v) => `[default]\naws_access_key_id = AKIA${"Q".repeat(0)}${"EXAMPLEKEYID2345".slice(0, 16)}\naws_secret_access_key = ${v}\n`,
      (v) => `{"Credentials": {"AccessKeyId": "ASIA...", "SecretAccessKey": "${v}", "SessionToken": "..."}}`,
      (v) => `$ aws configure set aws_secret_access_key ${v}`,
      (v) => `const s3 = new S3Client({ credentials: { accessKeyId, secretAccessKey: '${v}' } });`,
      yamlLine("aws_secret_access_key"),
    ],
    negatives: (r) => [
      'aws_secret_access_key = "${AWS_SECRET_ACCESS_KEY}"',
      "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      `aws_secret_access_key_sha1: ${r.str(HEX, 40)}`,
      `aws_secret_access_key_name: prod/${r.str(LOWER, 6)}`,
      `"checksum": "${r.str(B64, 40)}"`,
      "AWS_SECRET_ACCESS_KEY=<your-secret-access-key>",
      "aws_secret_access_key: !vault |",
      "Set AWS_SECRET_ACCESS_KEY in your shell before running terraform.",
      `secret_access_key_id: ${"A".repeat(40)}`,
      `SecretAccessKey: ${"x".repeat(40)}`,
      "aws_secret_access_key = abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    ],
  },
  {
    id: "google-api-key",
    gen: (r) => `AIza${r.str(B64URL, 35)}`,
    contexts: [...anywhere("GOOGLE_API_KEY", "apiKey"), (v) => `https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=${v}`],
    negatives: (r) => [
      prose(`AIza${r.str(B64URL, 34)}`),
      prose(`AIza${r.str(B64URL, 36)}`),
      prose(`aiza${r.str(B64URL, 35)}`),
      prose("AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
      "The key starts with AIza and is 39 characters long.",
      prose(`BAIza${r.str(B64URL, 35)}`),
      "https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=YOUR_API_KEY",
      prose(`AIzaSy${"0".repeat(33)}`),
      `firebase project: ${r.str(LOWER, 8)}-${r.str(DIGITS, 5)}`,
      prose(`AIza ${r.str(B64URL, 35)}`),
    ],
  },
  {
    id: "google-oauth-client-secret",
    gen: (r) => `GOCSPX-${r.str(B64URL, 28)}`,
    contexts: anywhere("GOOGLE_CLIENT_SECRET", "client_secret"),
    negatives: (r) => [
      prose(`GOCSPX-${r.str(B64URL, 12)}`),
      prose(`GOCSPX-${r.str(B64URL, 40)}`),
      prose("GOCSPX-XXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
      prose(`gocspx-${r.str(B64URL, 28)}`),
      "Client secrets now start with GOCSPX- followed by random characters.",
      `client_id: ${r.str(DIGITS, 12)}-${r.str(LOWER + DIGITS, 32)}.apps.googleusercontent.com`,
      prose(`GOCSPX_${r.str(B64URL, 28)}`),
      prose(`XGOCSPX-${r.str(B64URL, 28)}`),
      prose("GOCSPX-abcdefghijklmnopqrstuvwxyzAB"),
      "client_secret: <GOCSPX-...>",
    ],
  },
  {
    id: "azure-storage-account-key",
    gen: (r) => r.bytes(64).toString("base64"),
    contexts: [
      (v) => `AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=${v};EndpointSuffix=core.windows.net"`,
      (v) => `{"ConnectionStrings": {"Blob": "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=${v}"}}`,
      (v) => `AZURE_STORAGE_KEY=${v}`,
      (v) => `azure_storage_account_key: "${v}"`,
      (v) => `2024-06-01 12:00:01 WARN storage: retrying with AccountKey=${v} (403)`,
    ],
    negatives: (r) => [
      "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=<storage-account-key>;EndpointSuffix=core.windows.net",
      "UseDevelopmentStorage=true",
      "AccountKey=REPLACE_ME_WITH_KEY",
      `AccountKey=${"0123456789".repeat(8)}ABCDEF==`,
      "AccountKey=${STORAGE_KEY}",
      `AccountName=${r.str(LOWER, 12)};EndpointSuffix=core.windows.net`,
      `AccountKey=${"A".repeat(86)}==`,
      "Rotate the AccountKey in the portal under Access keys.",
      `azure_storage_account_name: ${r.str(LOWER, 10)}`,
      `BlobEndpoint=https://${r.str(LOWER, 8)}.blob.core.windows.net/;SharedAccessSignature=`,
    ],
  },
  {
    id: "azure-shared-access-key",
    gen: (r) => r.bytes(32).toString("base64"),
    contexts: [
      (v) => `Endpoint=sb://acme-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${v}`,
      (v) => `EVENTHUB_CONNECTION="Endpoint=sb://ingest.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${v};EntityPath=telemetry"`,
      (v) => `{"IoTHub": "HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${v}"}`,
      (v) => `error connecting: SharedAccessKey=${v} rejected`,
    ],
    negatives: (r) => [
      "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>",
      `SharedAccessKeyName=${r.str(LOWER, 8)}`,
      "SharedAccessKey=your-shared-access-key",
      "SharedAccessKey=",
      "SharedAccessKey=${SB_KEY}",
      `SharedAccessKey=${"A".repeat(43)}=`,
      "Regenerate the SharedAccessKey from the namespace policy blade.",
      `Endpoint=sb://${r.str(LOWER, 6)}.servicebus.windows.net/`,
      `EntityPath=${r.str(LOWER, 10)}`,
      `SharedAccessKeyName=RootManageSharedAccessKey;EntityPath=orders`,
    ],
  },
  {
    id: "azure-sas-signature",
    gen: (r) => encodeURIComponent(r.bytes(32).toString("base64")),
    contexts: [
      (v) => `https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2024-07-01T00:00:00Z&sig=${v}`,
      (v) => `BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sp=rl&sig=${v}`,
      (v) => `curl "https://logs.blob.core.windows.net/c/app.log?sp=r&st=2024-06-01&se=2024-06-02&spr=https&sv=2022-11-02&sr=b&sig=${v}"`,
      (v) => `{"sasUrl": "https://x.queue.core.windows.net/q?sv=2021-08-06&sig=${v}&se=2024-06-02"}`,
    ],
    negatives: (r) => [
      "https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&sig=<signature>",
      `https://example.org/search?q=${r.str(LOWER, 6)}&sig=${r.str(ALNUM, 12)}`,
      `https://example.org/?sig=${r.str(ALNUM, 10)}`,
      `signature=${r.str(HEX, 12)}`,
      "Append &sig= with the HMAC of the string-to-sign.",
      `https://acme.blob.core.windows.net/c/x?sv=2022-11-02&se=2024-07-01&sp=r`,
      `sig=${"A".repeat(43)}=`,
      `https://img.example.com/a.png?w=200&sig=${r.str(HEX, 16)}`,
      "gpg: Good sig from Ada Park <ada@example.org>",
      `sig=${"%2F".repeat(20)}`,
    ],
  },
  {
    id: "heroku-api-key",
    gen: (r, i) => (i % 4 === 3 ? `HRKU-AA${r.str(B64URL, 58)}` : [r.str(HEX, 8), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 12)].join("-")),
    contexts: [envLine("HEROKU_API_KEY"), exportLine("HEROKU_API_KEY"), jsonLine("heroku_api_token"), yamlLine("heroku_oauth_token")],
    negatives: (r) => {
      const uuid = (): string => [r.str(HEX, 8), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 12)].join("-");
      return [
        `HEROKU_APP_ID=${uuid()}`,
        `heroku_app_name: billing-${r.str(LOWER, 5)}`,
        `{"heroku_team_id": "${uuid()}"}`,
        `request_id=${uuid()} path=/ status=200`,
        "HEROKU_API_KEY=your-heroku-api-key",
        "HEROKU_API_KEY=${HEROKU_TOKEN}",
        `heroku_release_id: ${uuid()}`,
        `Run heroku auth:token to print your API key.`,
        prose(`HRKU-AA${r.str(B64URL, 20)}`),
        `HEROKU_API_KEY=00000000-0000-0000-0000-000000000000`,
      ];
    },
  },
  {
    id: "digitalocean-token",
    gen: (r) => `${r.pick(["dop", "doo", "dor"])}_v1_${r.str(HEX, 64)}`,
    contexts: anywhere("DIGITALOCEAN_TOKEN", "do_token"),
    negatives: (r) => [
      prose(`dop_v1_${r.str(HEX, 63)}`),
      prose(`dop_v1_${r.str(HEX, 65)}`),
      prose(`dop_v2_${r.str(HEX, 64)}`),
      prose(`dop_v1_${r.str(ALNUM, 64)}`),
      prose(`dop_v1_${"0".repeat(64)}`),
      "Tokens look like dop_v1_ followed by 64 hex characters.",
      prose(`xdop_v1_${r.str(HEX, 64)}`),
      `droplet id ${r.str(DIGITS, 9)} in ${r.pick(["nyc3", "fra1"])}`,
      prose(`DOP_V1_${r.str(HEX, 64).toUpperCase()}`),
      prose(`dop-v1-${r.str(HEX, 64)}`),
    ],
  },
  // ----------------------------------------------------------------- source hosting
  ...(
    [
      ["github-pat", "ghp_", "GITHUB_TOKEN"],
      ["github-oauth-token", "gho_", "GH_OAUTH_TOKEN"],
      ["github-app-token", "ghs_", "GH_INSTALLATION_TOKEN"],
      ["github-refresh-token", "ghr_", "GH_REFRESH_TOKEN"],
      ["npm-token", "npm_", "NPM_TOKEN"],
    ] as const
  ).map(
    ([id, prefix, envKey]): Spec => ({
      id,
      gen: (r, i) => (id === "github-app-token" && i % 2 === 1 ? "ghu_" : prefix) + r.str(ALNUM, 36),
      contexts: [
        ...anywhere(envKey, "token"),
        (v) => (prefix === "npm_" ? `//registry.npmjs.org/:_authToken=${v}` : `git clone https://x-access-token:${v}@github.com/acme/app.git`),
        headerLine("token"),
      ],
      negatives: (r) => [
        prose(prefix + r.str(ALNUM, 35)),
        prose(prefix + r.str(ALNUM, 37)),
        prose(prefix + "X".repeat(36)),
        prose(prefix.toUpperCase() + r.str(ALNUM, 36)),
        prose(`x${prefix}${r.str(ALNUM, 36)}`),
        prose(`${prefix}${r.str(ALNUM, 20)}-${r.str(ALNUM, 15)}`),
        prose(`${prefix}aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789`),
        `${envKey}=\${{ secrets.${envKey} }}`,
        `Create a token (it starts with ${prefix}) and store it as a repository secret.`,
        `commit ${r.str(HEX, 40)}`,
        prose(`${prefix.slice(0, -1)}-${r.str(ALNUM, 36)}`),
      ],
    }),
  ),
  {
    id: "github-fine-grained-pat",
    gen: (r) => `github_pat_${r.str(ALNUM, 22)}_${r.str(ALNUM, 59)}`,
    contexts: [...anywhere("GH_TOKEN", "token"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`github_pat_${r.str(ALNUM, 21)}_${r.str(ALNUM, 59)}`),
      prose(`github_pat_${r.str(ALNUM, 22)}_${r.str(ALNUM, 58)}`),
      prose(`github_pat_${r.str(ALNUM, 22)}${r.str(ALNUM, 59)}`),
      prose(`github_pat_${"X".repeat(22)}_${"X".repeat(59)}`),
      "Fine-grained tokens start with github_pat_ and are scoped to repositories.",
      prose(`GITHUB_PAT_${r.str(ALNUM, 22)}_${r.str(ALNUM, 59)}`),
      prose(`github_pat_${r.str(ALNUM, 22)}-${r.str(ALNUM, 59)}`),
      "GH_TOKEN=${{ secrets.GH_PAT }}",
      `my_github_pat_count = ${r.int(1, 9)}`,
      prose(`github_pat_${r.str(ALNUM, 22)}_${r.str(ALNUM, 60)}`),
    ],
  },
  {
    id: "gitlab-pat",
    gen: (r, i) => (i % 3 === 2 ? `glpat-${r.str(B64URL, 36)}.${r.str(LOWER + DIGITS, 2)}${r.str(LOWER + DIGITS, 7)}` : `glpat-${r.str(ALNUM + "_-", 20)}`),
    contexts: [...anywhere("GITLAB_TOKEN", "private_token"), (v) => `curl --header "PRIVATE-TOKEN: ${v}" https://gitlab.example.com/api/v4/projects`],
    negatives: (r) => [
      prose(`glpat-${r.str(ALNUM, 19)}`),
      prose(`glpat-${r.str(ALNUM, 21)}`),
      prose(`glpat-${"x".repeat(20)}`),
      prose(`GLPAT-${r.str(ALNUM, 20)}`),
      "GitLab personal access tokens begin with glpat- since 14.5.",
      prose(`glpat_${r.str(ALNUM, 20)}`),
      prose(`xglpat-${r.str(ALNUM, 20)}`),
      'GITLAB_TOKEN="$CI_JOB_TOKEN"',
      `project_id: ${r.str(DIGITS, 8)}`,
      prose(`glpat-${r.str(ALNUM, 10)}`),
    ],
  },
  {
    id: "gitlab-token",
    gen: (r, i) =>
      [`glptt-${r.str(HEX, 40)}`, `glrt-${r.str(B64URL, 20)}`, `gldt-${r.str(B64URL, 20)}`, `glsoat-${r.str(B64URL, 20)}`, `gloas-${r.str(B64URL, 64)}`, `glcbt-${r.str(ALNUM, 3)}_${r.str(B64URL, 20)}`][i % 6] ?? "",
    contexts: [...anywhere("CI_TRIGGER_TOKEN", "runner_token"), (v) => `[[runners]]\n  url = "https://gitlab.example.com"\n  token = "${v}"`],
    negatives: (r) => [
      prose(`glptt-${r.str(HEX, 39)}`),
      prose(`glptt-${r.str(ALNUM, 40)}`),
      prose(`glrt-${r.str(ALNUM, 12)}`),
      prose(`gldt-${"x".repeat(20)}`),
      "Runner authentication tokens have the prefix glrt-.",
      prose(`glxx-${r.str(ALNUM, 20)}`),
      prose(`xglrt-${r.str(ALNUM, 20)}`),
      `runner_id: ${r.str(DIGITS, 6)}`,
      prose(`gloas-${r.str(ALNUM, 30)}`),
      prose(`GLRT-${r.str(ALNUM, 20)}`),
    ],
  },
  {
    id: "pypi-token",
    gen: (r, i) => `pypi-${i % 4 === 3 ? "AgENdGVzdC5weXBpLm9yZw" : "AgEIcHlwaS5vcmc"}${r.str(B64URL, r.int(60, 180))}`,
    contexts: [...anywhere("TWINE_PASSWORD", "pypi_token"), (v) => `[pypi]\n  username = __token__\n  password = ${v}`],
    negatives: (r) => [
      prose(`pypi-AgEIcHlwaS5vcmc${r.str(B64URL, 30)}`),
      prose(`pypi-${r.str(B64URL, 80)}`),
      prose(`pypi-AgEIcHlwaS5vcmc${"A".repeat(80)}`),
      "Tokens are prefixed with pypi-AgEIcHlwaS5vcmc (pypi.org in base64).",
      "pip install pypi-simple==1.5.0",
      prose(`PYPI-AgEIcHlwaS5vcmc${r.str(B64URL, 80)}`),
      "TWINE_PASSWORD=${PYPI_TOKEN}",
      "https://pypi.org/project/requests/2.32.3/",
      prose(`xpypi-AgEIcHlwaS5vcmc${r.str(B64URL, 80)}`),
      "username = __token__",
    ],
  },
  {
    id: "docker-hub-pat",
    gen: (r) => `dckr_${r.pick(["pat", "pat", "oat"])}_${r.str(B64URL, 27)}`,
    contexts: [...anywhere("DOCKERHUB_TOKEN", "docker_token"), (v) => `$ echo ${v} | docker login -u acmebot --password-stdin`],
    negatives: (r) => [
      prose(`dckr_pat_${r.str(B64URL, 12)}`),
      prose(`dckr_pat_${"x".repeat(27)}`),
      prose(`dckr_xyz_${r.str(B64URL, 27)}`),
      prose(`DCKR_PAT_${r.str(B64URL, 27)}`),
      "Docker Hub tokens look like dckr_pat_ followed by 27 characters.",
      "docker login -u acmebot --password-stdin < token.txt",
      `image: acme/app@sha256:${r.str(HEX, 64)}`,
      prose(`xdckr_pat_${r.str(B64URL, 27)}`),
      "DOCKERHUB_TOKEN=${{ secrets.DOCKERHUB_TOKEN }}",
      prose(`dckr-pat-${r.str(B64URL, 27)}`),
    ],
  },
  // ----------------------------------------------------------------- messaging
  {
    id: "slack-bot-token",
    gen: (r) => `xoxb-${r.str(DIGITS, r.int(10, 13))}-${r.str(DIGITS, r.int(10, 13))}-${r.str(ALNUM, 24)}`,
    contexts: anywhere("SLACK_BOT_TOKEN", "bot_token"),
    negatives: (r) => [
      prose(`xoxb-${r.str(DIGITS, 11)}-${r.str(ALNUM, 10)}`),
      prose("xoxb-XXXXXXXXXXXX-XXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX"),
      prose(`xoxb-your-bot-token`),
      prose(`XOXB-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(ALNUM, 24)}`),
      "Bot tokens start with xoxb- and user tokens with xoxp-.",
      prose(`xoxz-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(ALNUM, 24)}`),
      "SLACK_BOT_TOKEN=${SLACK_BOT_TOKEN}",
      `channel: C${r.str(UPPER + DIGITS, 10)} user: U${r.str(UPPER + DIGITS, 10)}`,
      prose(`xoxb_${r.str(DIGITS, 11)}_${r.str(DIGITS, 11)}_${r.str(ALNUM, 24)}`),
      prose(`xoxb-${r.str(DIGITS, 4)}-${r.str(DIGITS, 4)}-${r.str(ALNUM, 8)}`),
    ],
  },
  {
    id: "slack-user-token",
    gen: (r, i) =>
      i % 2 === 0
        ? `xoxp-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(DIGITS, 12)}-${r.str(HEX, 32)}`
        : `xox${r.pick(["e", "a", "r"])}-${r.int(1, 2)}-${r.str(ALNUM, r.int(40, 60))}`,
    contexts: anywhere("SLACK_USER_TOKEN", "user_token"),
    negatives: (r) => [
      prose(`xoxp-${r.str(DIGITS, 11)}-${r.str(HEX, 8)}`),
      prose("xoxp-XXXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
      prose(`xoxp-${r.str(ALNUM, 40)}`),
      prose(`XOXP-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(DIGITS, 12)}-${r.str(HEX, 32)}`),
      "User tokens (xoxp-) act on behalf of the installing user.",
      prose(`xoxq-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(HEX, 32)}`),
      prose(`axoxp-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(DIGITS, 12)}-${r.str(HEX, 32)}`),
      "SLACK_USER_TOKEN=${SLACK_USER_TOKEN}",
      prose(`xoxp-${r.str(DIGITS, 11)}-${r.str(HEX, 10)}`),
      `ts=${r.str(DIGITS, 10)}.${r.str(DIGITS, 6)} thread_ts=${r.str(DIGITS, 10)}.${r.str(DIGITS, 6)}`,
    ],
  },
  {
    id: "slack-app-token",
    gen: (r) => `xapp-1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`,
    contexts: anywhere("SLACK_APP_TOKEN", "app_token"),
    negatives: (r) => [
      prose(`xapp-1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 10)}`),
      prose("xapp-1-XXXXXXXXXXX-XXXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
      prose(`xapp-A${r.str(UPPER + DIGITS, 10)}-${r.str(HEX, 64)}`),
      prose(`XAPP-1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`),
      "Socket Mode needs an app-level token (xapp-).",
      "SLACK_APP_TOKEN=${SLACK_APP_TOKEN}",
      `app_id: A${r.str(UPPER + DIGITS, 10)}`,
      prose(`xapp-1-A${r.str(UPPER + DIGITS, 10)}`),
      prose(`myxapp-1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`),
      prose(`xapp_1_A${r.str(UPPER + DIGITS, 10)}_${r.str(DIGITS, 13)}_${r.str(HEX, 64)}`),
    ],
  },
  {
    id: "slack-webhook-url",
    gen: (r) => `https://hooks.slack.com/services/T${r.str(UPPER + DIGITS, 10)}/B${r.str(UPPER + DIGITS, 10)}/${r.str(ALNUM, 24)}`,
    contexts: [envLine("SLACK_WEBHOOK_URL"), jsonLine("webhook"), (v) => `curl -X POST -H 'Content-type: application/json' --data '{"text":"deploy done"}' ${v}`, chatLine, yamlLine("slack_webhook")],
    negatives: (r) => [
      "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
      "Create an incoming webhook at https://api.slack.com/messaging/webhooks",
      "https://hooks.slack.com/services/",
      `https://hooks.slack.com/services/T${r.str(UPPER + DIGITS, 10)}`,
      `https://hooks.slack.com/services/T${r.str(UPPER + DIGITS, 10)}/B${r.str(UPPER + DIGITS, 10)}/short`,
      `https://acme.slack.com/archives/C${r.str(UPPER + DIGITS, 10)}/p${r.str(DIGITS, 16)}`,
      "SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_URL}",
      `https://hooks.example.com/services/T${r.str(UPPER + DIGITS, 10)}/B${r.str(UPPER + DIGITS, 10)}/${r.str(ALNUM, 24)}`,
      "webhook: https://hooks.slack.com/services/<team>/<bot>/<token>",
      `https://slack.com/api/chat.postMessage?channel=C${r.str(UPPER, 8)}`,
    ],
  },
  {
    id: "discord-bot-token",
    count: 200,
    gen: (r) => discordToken(r),
    contexts: [...anywhere("DISCORD_TOKEN", "token"), headerLine("Bot")],
    negatives: (r) => [
      prose(`${b64url("hello-world-12345678")}.${r.str(B64URL, 6)}.${r.str(B64URL, 38)}`),
      prose(`M${r.str(B64URL, 23)}.${r.str(B64URL, 6)}.${r.str(B64URL, 38)}`),
      prose(`${b64url(r.str(DIGITS, 18))}.${r.str(B64URL, 5)}.${r.str(B64URL, 38)}`),
      prose(`${b64url(r.str(DIGITS, 18))}.${r.str(B64URL, 6)}.${r.str(B64URL, 20)}`),
      "Discord tokens have three dot-separated parts.",
      `NodeJS.Timeout.${r.str(LOWER, 6)}`,
      "DISCORD_TOKEN=${DISCORD_TOKEN}",
      `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36`,
      prose(`${b64url(r.str(DIGITS, 18))}.XXXXXX.${"X".repeat(38)}`),
      `guild_id: ${r.str(DIGITS, 18)}`,
    ],
  },
  {
    id: "discord-webhook-url",
    gen: (r) => `https://${r.pick(["", "ptb.", "canary."])}discord.com/api/webhooks/${r.str(DIGITS, 18)}/${r.str(B64URL, 68)}`,
    contexts: [envLine("DISCORD_WEBHOOK"), jsonLine("webhook_url"), (v) => `curl -H "Content-Type: application/json" -d '{"content":"hi"}' ${v}`, chatLine],
    negatives: (r) => [
      `https://discord.com/api/webhooks/${r.str(DIGITS, 18)}/`,
      `https://discord.com/api/webhooks/${r.str(DIGITS, 18)}/${r.str(B64URL, 20)}`,
      `https://discord.com/channels/${r.str(DIGITS, 18)}/${r.str(DIGITS, 18)}`,
      "https://discord.com/api/webhooks/<id>/<token>",
      `https://discord.com/api/webhooks/${r.str(DIGITS, 18)}/${"X".repeat(68)}`,
      "Webhooks: Server Settings → Integrations → Webhooks.",
      `https://example.com/api/webhooks/${r.str(DIGITS, 18)}/${r.str(B64URL, 68)}`,
      `https://discord.gg/${r.str(ALNUM, 8)}`,
      "DISCORD_WEBHOOK=${DISCORD_WEBHOOK}",
      `https://discord.com/api/v10/applications/${r.str(DIGITS, 18)}/commands`,
    ],
  },
  {
    id: "telegram-bot-token",
    count: 200,
    gen: (r) => `${r.str(DIGITS, r.int(8, 10)).replace(/^0/, "7")}:AA${r.str(B64URL, 31)}${r.pick(["Q", "w", "3"])}${r.str(DIGITS, 1)}`,
    contexts: [...anywhere("TELEGRAM_BOT_TOKEN", "bot_token"), (v) => `https://api.telegram.org/bot${v}/sendMessage?chat_id=12345&text=hi`],
    negatives: (r) => [
      prose(`${r.str(DIGITS, 9)}:AA${r.str(B64URL, 20)}`),
      prose(`${r.str(DIGITS, 9)}:${"A".repeat(35)}`),
      prose(`${r.str(DIGITS, 5)}:AA${r.str(B64URL, 33)}`),
      "12:30:45 job finished in 00:01:12",
      "TELEGRAM_BOT_TOKEN=123456789:your-token-here",
      prose(`${r.str(DIGITS, 9)}:zz${r.str(B64URL, 33)}`),
      `chat_id: -100${r.str(DIGITS, 10)}`,
      "Talk to @BotFather to create a bot and get its token.",
      prose(`${r.str(DIGITS, 9)}:AAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`),
      `ratio ${r.str(DIGITS, 9)}:${r.str(DIGITS, 9)}`,
    ],
  },
  {
    id: "linear-api-key",
    gen: (r) => `lin_api_${r.str(ALNUM, 40)}`,
    contexts: [...anywhere("LINEAR_API_KEY", "apiKey"), headerLine("")],
    negatives: (r) => [
      prose(`lin_api_${r.str(ALNUM, 39)}`),
      prose(`lin_api_${r.str(ALNUM, 41)}`),
      prose(`lin_api_${"x".repeat(40)}`),
      prose(`LIN_API_${r.str(ALNUM, 40)}`),
      "Personal API keys start with lin_api_.",
      prose(`lin_oauth_${r.str(ALNUM, 40)}`),
      "LINEAR_API_KEY=${LINEAR_API_KEY}",
      `issue ENG-${r.int(100, 999)} moved to Done`,
      prose(`xlin_api_${r.str(ALNUM, 40)}`),
      prose(`lin-api-${r.str(ALNUM, 40)}`),
    ],
  },
  {
    id: "notion-token",
    gen: (r, i) => (i % 2 === 0 ? `secret_${r.str(ALNUM, 43)}` : `ntn_${r.str(DIGITS, 11)}${r.str(ALNUM, 35)}`),
    contexts: [...anywhere("NOTION_TOKEN", "notion_key"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`secret_${r.str(ALNUM, 42)}`),
      prose(`secret_${r.str(ALNUM, 44)}`),
      prose(`secret_${r.str(LOWER, 43)}`),
      prose(`ntn_${r.str(ALNUM, 46)}`),
      "Internal integration secrets start with secret_ or ntn_.",
      "secret_name: notion-integration",
      prose(`ntn_${r.str(DIGITS, 11)}${"x".repeat(35)}`),
      "NOTION_TOKEN=${NOTION_TOKEN}",
      `page_id: ${r.str(HEX, 32)}`,
      prose(`top_secret_${r.str(ALNUM, 43)}`),
    ],
  },
  {
    id: "atlassian-api-token",
    gen: (r, i) => (i % 2 === 0 ? `ATATT3xFfGF0${r.str(B64URL, 174)}` : r.str(ALNUM, 24)),
    contexts: [
      (v) => `JIRA_API_TOKEN=${v}`,
      (v) => `jira:\n  url: https://acme.atlassian.net\n  jira_api_token: ${v}`,
      (v) => `{"confluence_token": "${v}", "space": "ENG"}`,
      (v) => `export ATLASSIAN_API_KEY='${v}'`,
    ],
    negatives: (r) => [
      `JIRA_URL=https://acme.atlassian.net`,
      `jira_project_key: ${r.str(UPPER, 4)}`,
      `confluence_space_id: ${r.str(DIGITS, 9)}`,
      `JIRA_API_TOKEN=${"x".repeat(24)}`,
      "JIRA_API_TOKEN=${JIRA_API_TOKEN}",
      prose(`ATATT3${r.str(B64URL, 40)}`),
      "Create an API token at id.atlassian.com/manage-profile/security/api-tokens",
      `jira_issue: ${r.str(UPPER, 3)}-${r.int(10, 9999)}`,
      `atlassian_account_id: ${r.str(HEX, 24)}`,
      "jira_user: ada@acme.test",
    ],
  },
  // ----------------------------------------------------------------- AI
  {
    id: "openai-api-key",
    gen: (r, i) =>
      [
        `sk-proj-${r.str(B64URL, 74)}T3BlbkFJ${r.str(B64URL, 74)}`,
        `sk-${r.str(ALNUM, 20)}T3BlbkFJ${r.str(ALNUM, 20)}`,
        `sk-svcacct-${r.str(B64URL, 58)}T3BlbkFJ${r.str(B64URL, 58)}`,
        `sk-proj-${r.str(B64URL, 58)}T3BlbkFJ${r.str(B64URL, 58)}`,
      ][i % 4] ?? "",
    contexts: [...anywhere("OPENAI_API_KEY", "api_key"), headerLine("Bearer"), (v) => `client = OpenAI(api_key="${v}")`],
    negatives: (r) => [
      prose(`sk-${r.str(ALNUM, 20)}`),
      prose("sk-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
      "pip install scikit-learn  # imported as sklearn, sk-learn in some docs",
      prose(`sk-${r.str(LOWER, 40)}`),
      prose(`task-${r.str(ALNUM, 40)}`),
      "OPENAI_API_KEY=sk-...",
      "OPENAI_API_KEY=${OPENAI_API_KEY}",
      `risk-${r.str(ALNUM, 36)} assessment`,
      prose(`sk-ant-api03-${r.str(B64URL, 10)}`),
      prose(`sk-proj-${r.str(B64URL, 20)}`),
      prose("sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"),
    ],
  },
  {
    id: "anthropic-api-key",
    gen: (r, i) => `sk-ant-${["api03", "admin01", "oat01"][i % 3] ?? "api03"}-${r.str(B64URL, 93)}AA`,
    contexts: [...anywhere("ANTHROPIC_API_KEY", "api_key"), (v) => `curl https://api.anthropic.com/v1/messages -H "x-api-key: ${v}"`, (v) => `client = anthropic.Anthropic(api_key="${v}")`],
    negatives: (r) => [
      prose(`sk-ant-api03-${r.str(B64URL, 20)}`),
      prose(`sk-ant-api03-${"X".repeat(95)}`),
      prose(`sk-ant-${r.str(B64URL, 95)}`),
      "ANTHROPIC_API_KEY=sk-ant-...",
      "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}",
      "Keys start with sk-ant- followed by the key type and version.",
      prose(`SK-ANT-API03-${r.str(B64URL, 95)}`),
      prose(`sk_ant_api03_${r.str(B64URL, 95)}`),
      "model: claude-sonnet-4-5, max_tokens: 1024",
      prose(`xsk-ant-api03-${r.str(B64URL, 95)}`),
    ],
  },
  {
    id: "huggingface-token",
    gen: (r, i) => `${i % 5 === 4 ? "api_org_" : "hf_"}${r.str(UPPER + LOWER, 34)}`,
    contexts: [...anywhere("HF_TOKEN", "hf_token"), (v) => `$ huggingface-cli login --token ${v}`],
    negatives: (r) => [
      prose(`hf_${r.str(UPPER + LOWER, 33)}`),
      prose(`hf_${r.str(UPPER + LOWER, 35)}`),
      prose(`hf_${r.str(LOWER, 34)}`),
      "HF_HOME=/data/hf_cache_dir_for_models_and_datasets",
      "from transformers import AutoModel  # uses hf_hub_download",
      "HF_TOKEN=${HF_TOKEN}",
      prose(`hf_${"x".repeat(34)}`),
      prose(`HF_${r.str(UPPER + LOWER, 34)}`),
      prose(`xhf_${r.str(UPPER + LOWER, 34)}`),
      "model_id: meta-llama/Llama-3.1-8B-Instruct",
    ],
  },
  // ----------------------------------------------------------------- email, sms
  {
    id: "sendgrid-api-key",
    gen: (r) => `SG.${r.str(B64URL, 22)}.${r.str(B64URL, 43)}`,
    contexts: [...anywhere("SENDGRID_API_KEY", "sendgrid_key"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`SG.${r.str(B64URL, 21)}.${r.str(B64URL, 43)}`),
      prose(`SG.${r.str(B64URL, 22)}.${r.str(B64URL, 42)}`),
      prose(`SG.${"x".repeat(22)}.${"x".repeat(43)}`),
      "SENDGRID_API_KEY=SG.xxxxx",
      "SENDGRID_API_KEY=${SENDGRID_API_KEY}",
      `version SG.${r.int(1, 9)}.${r.int(0, 9)}`,
      prose(`sg.${r.str(B64URL, 22)}.${r.str(B64URL, 43)}`),
      prose(`SG-${r.str(B64URL, 22)}-${r.str(B64URL, 43)}`),
      "SendGrid keys start with SG. and have two parts.",
      prose(`XSG.${r.str(B64URL, 22)}.${r.str(B64URL, 43)}`),
    ],
  },
  {
    id: "twilio-api-key",
    gen: (r) => `SK${r.str(HEX, 32)}`,
    contexts: anywhere("TWILIO_API_KEY", "api_key_sid"),
    negatives: (r) => [
      prose(`SK${r.str(HEX, 31)}`),
      prose(`SK${r.str(HEX, 33)}`),
      prose(`SK${r.str(HEX, 32).toUpperCase()}`),
      prose(`SK${"0".repeat(32)}`),
      prose(`TASK${r.str(HEX, 32)}`),
      "API key SIDs start with SK; account SIDs with AC.",
      `sku: SK${r.str(DIGITS, 6)}`,
      "TWILIO_API_KEY=${TWILIO_API_KEY}",
      prose(`sk${r.str(HEX, 32)}`),
      prose(`SK-${r.str(HEX, 32)}`),
    ],
  },
  {
    id: "twilio-credential",
    gen: (r, i) => (i % 2 === 0 ? `AC${r.str(HEX, 32)}` : r.str(HEX, 32)),
    contexts: [envLine("TWILIO_AUTH_TOKEN"), exportLine("TWILIO_ACCOUNT_SID"), yamlLine("twilio_auth_token"), jsonLine("twilioAuthToken")],
    negatives: (r) => [
      "TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN}",
      `TWILIO_PHONE_NUMBER=+1415555${r.str(DIGITS, 4)}`,
      "TWILIO_AUTH_TOKEN=your_auth_token",
      `TWILIO_AUTH_TOKEN=${"0".repeat(32)}`,
      `auth_token: ${r.str(HEX, 32)}`.replace("auth_token", "build_hash"),
      "Find your Account SID and Auth Token in the Twilio console.",
      `twilio_region: us1`,
      `TWILIO_ACCOUNT_SID=AC${r.str(HEX, 10)}`,
      `message_sid: SM${r.str(HEX, 32)}`,
      `TWILIO_EDGE=ashburn`,
    ],
  },
  {
    id: "mailgun-api-key",
    gen: (r, i) => (i % 2 === 0 ? `key-${r.str(HEX, 32)}` : `${r.str(HEX, 32)}-${r.str(HEX, 8)}-${r.str(HEX, 8)}`),
    contexts: [envLine("MAILGUN_API_KEY"), yamlLine("mailgun_api_key"), jsonLine("mailgunKey"), exportLine("MAILGUN_PRIVATE_KEY")],
    negatives: (r) => [
      prose(`key-${r.str(HEX, 31)}`),
      prose(`key-${r.str(HEX, 33)}`),
      prose(`key-${"0".repeat(32)}`),
      "The Redis key-value store keeps session-state per user.",
      `monkey-${r.str(HEX, 32)}`,
      `build_id: ${r.str(HEX, 32)}-${r.str(HEX, 8)}-${r.str(HEX, 8)}`,
      "MAILGUN_API_KEY=${MAILGUN_API_KEY}",
      "MAILGUN_DOMAIN=mg.acme.test",
      prose(`KEY-${r.str(HEX, 32)}`),
      prose(`key_${r.str(HEX, 32)}`),
    ],
  },
  // ----------------------------------------------------------------- payments
  {
    id: "stripe-secret-key",
    gen: (r) => `sk_${r.pick(["live", "test"])}_${r.str(ALNUM, r.pick([24, 99]))}`,
    contexts: [...anywhere("STRIPE_SECRET_KEY", "stripe_key"), (v) => `curl https://api.stripe.com/v1/charges -u ${v}:`, (v) => `Stripe.api_key = '${v}'`],
    negatives: (r) => [
      prose(`pk_live_${r.str(ALNUM, 24)}`),
      prose(`sk_live_${r.str(ALNUM, 12)}`),
      prose(`sk_live_${"x".repeat(24)}`),
      prose(`sk_prod_${r.str(ALNUM, 24)}`),
      "STRIPE_SECRET_KEY=sk_live_...",
      "STRIPE_SECRET_KEY=${STRIPE_SECRET_KEY}",
      prose(`ask_live_${r.str(ALNUM, 24)}`),
      `customer cus_${r.str(ALNUM, 14)} paid invoice in_${r.str(ALNUM, 24)}`,
      "Use your test key (sk_test_...) during development.",
      prose(`SK_LIVE_${r.str(ALNUM, 24)}`),
    ],
  },
  {
    id: "stripe-restricted-key",
    gen: (r) => `rk_${r.pick(["live", "test"])}_${r.str(ALNUM, r.pick([24, 99]))}`,
    contexts: anywhere("STRIPE_RESTRICTED_KEY", "stripe_key"),
    negatives: (r) => [
      prose(`rk_live_${r.str(ALNUM, 12)}`),
      prose(`rk_live_${"x".repeat(24)}`),
      prose(`rk_prod_${r.str(ALNUM, 24)}`),
      "Restricted keys (rk_live_...) limit what an integration can do.",
      "STRIPE_RESTRICTED_KEY=${STRIPE_RESTRICTED_KEY}",
      prose(`work_live_${r.str(ALNUM, 24)}`),
      `price price_${r.str(ALNUM, 24)}`,
      prose(`RK_LIVE_${r.str(ALNUM, 24)}`),
      prose(`rk_live-${r.str(ALNUM, 24)}`),
      prose(`rk_${r.str(ALNUM, 24)}`),
    ],
  },
  {
    id: "stripe-webhook-secret",
    gen: (r) => `whsec_${r.str(ALNUM, 32)}`,
    contexts: anywhere("STRIPE_WEBHOOK_SECRET", "webhook_secret"),
    negatives: (r) => [
      prose(`whsec_${r.str(ALNUM, 16)}`),
      prose(`whsec_${"x".repeat(32)}`),
      "STRIPE_WEBHOOK_SECRET=whsec_...",
      "STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET}",
      "The signing secret (whsec_…) is shown once on the webhook page.",
      prose(`WHSEC_${r.str(ALNUM, 32)}`),
      prose(`xwhsec_${r.str(ALNUM, 32)}`),
      `event evt_${r.str(ALNUM, 24)} type=charge.succeeded`,
      prose(`whsec-${r.str(ALNUM, 32)}`),
      prose(`whsec_${r.str(ALNUM, 70)}`),
    ],
  },
  {
    id: "shopify-token",
    gen: (r) => `shp${r.pick(["at", "ss", "ca", "pa"])}_${r.str(HEX, 32)}`,
    contexts: [...anywhere("SHOPIFY_ACCESS_TOKEN", "access_token"), (v) => `curl -H "X-Shopify-Access-Token: ${v}" https://acme.myshopify.com/admin/api/2024-04/shop.json`],
    negatives: (r) => [
      prose(`shpat_${r.str(HEX, 31)}`),
      prose(`shpat_${r.str(HEX, 33)}`),
      prose(`shpat_${"0".repeat(32)}`),
      prose(`shpxx_${r.str(HEX, 32)}`),
      prose(`shpat_${r.str(ALNUM, 32)}`),
      "Admin API tokens start with shpat_.",
      "SHOPIFY_ACCESS_TOKEN=${SHOPIFY_ACCESS_TOKEN}",
      `store: ${r.str(LOWER, 8)}.myshopify.com`,
      prose(`SHPAT_${r.str(HEX, 32)}`),
      prose(`xshpat_${r.str(HEX, 32)}`),
    ],
  },
  {
    id: "square-token",
    gen: (r, i) => [`sq0atp-${r.str(B64URL, 22)}`, `sq0csp-${r.str(B64URL, 43)}`, `EAAA${r.str(B64URL, 60)}`][i % 3] ?? "",
    contexts: [...anywhere("SQUARE_ACCESS_TOKEN", "access_token"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`sq0atp-${r.str(B64URL, 10)}`),
      prose(`sq0idp-${r.str(B64URL, 22)}`),
      prose(`EAAA${r.str(B64URL, 40)}`),
      prose(`EAAA${"x".repeat(60)}`),
      "SQUARE_ACCESS_TOKEN=${SQUARE_ACCESS_TOKEN}",
      "Sandbox tokens start with EAAA as well.",
      `location_id: L${r.str(UPPER + DIGITS, 12)}`,
      `${r.str(ALNUM, 30)}EAAA${r.str(B64URL, 60)}`,
      prose(`SQ0ATP-${r.str(B64URL, 22)}`),
      prose(`sq0atp_${r.str(B64URL, 22)}`),
    ],
  },
  {
    id: "braintree-access-token",
    gen: (r) => `access_token$${r.pick(["production", "sandbox"])}$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`,
    contexts: anywhere("BRAINTREE_ACCESS_TOKEN", "braintree_token"),
    negatives: (r) => [
      prose(`access_token$production$${r.str(LOWER + DIGITS, 16)}`),
      prose(`access_token$production$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 31)}`),
      prose(`access_token$staging$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`),
      "access_token$production$<merchant>$<secret>",
      "BRAINTREE_ACCESS_TOKEN=${BRAINTREE_ACCESS_TOKEN}",
      `merchant_id: ${r.str(LOWER + DIGITS, 16)}`,
      prose(`access_token$production$${"0".repeat(16)}$${"0".repeat(32)}`),
      "PayPal access tokens look like access_token$production$...",
      prose(`access-token$production$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`),
      prose(`ACCESS_TOKEN$PRODUCTION$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`),
    ],
  },
  // ----------------------------------------------------------------- observability, infra
  {
    id: "datadog-api-key",
    gen: (r) => r.str(HEX, 32),
    contexts: [envLine("DD_API_KEY"), exportLine("DATADOG_API_KEY"), yamlLine("dd_api_key"), (v) => `curl -X POST https://api.datadoghq.com/api/v1/series -H "DD-API-KEY: ${v}"`, jsonLine("datadog_api_key")],
    negatives: (r) => [
      "DD_API_KEY=${DD_API_KEY}",
      "dd_api_key_secret_name: datadog-api-key",
      `DD_API_KEY=${"0".repeat(32)}`,
      `DD_SITE=datadoghq.eu`,
      `dd_trace_id: ${r.str(HEX, 32)}`,
      `add_api_key_button: true`,
      "Set DD_API_KEY before starting the agent.",
      `DD_ENV=production DD_SERVICE=billing`,
      `span_id=${r.str(HEX, 16)} trace_id=${r.str(HEX, 32)}`,
      `DD_API_KEY=<DATADOG_API_KEY>`,
    ],
  },
  {
    id: "datadog-app-key",
    gen: (r) => r.str(HEX, 40),
    contexts: [envLine("DD_APP_KEY"), exportLine("DATADOG_APPLICATION_KEY"), (v) => `curl https://api.datadoghq.com/api/v1/dashboard -H "DD-APPLICATION-KEY: ${v}"`, jsonLine("datadog_app_key")],
    negatives: (r) => [
      "DD_APP_KEY=${DD_APP_KEY}",
      "DD_APP_KEY_NAME=ci-dashboards",
      `DD_APP_KEY=${"f".repeat(40)}`,
      `DD_APP_NAME=billing`,
      `commit: ${r.str(HEX, 40)}`,
      "Create an application key under Organization Settings.",
      `dd_app_version: 1.4.2`,
      `DD_APP_KEY=<application-key>`,
      `git rev-parse HEAD -> ${r.str(HEX, 40)}`,
      `odd_app_key_count: ${r.int(1, 9)}`,
    ],
  },
  {
    id: "age-secret-key",
    gen: (r) => ageKey(r),
    contexts: [(v) => `# created: 2024-06-01T10:00:00Z\n# public key: age1${r0()}\n${v}\n`, envLine("SOPS_AGE_KEY"), chatLine, jsonLine("age_identity"), logLine],
    negatives: (r) => {
      const good = ageKey(r);
      const last = good.charAt(good.length - 1);
      const swapped = good.slice(0, -1) + (last === "Q" ? "P" : "Q");
      return [
        prose(swapped),
        prose(good.slice(0, -1)),
        prose(`AGE-SECRET-KEY-1${"Q".repeat(58)}`),
        prose(good.toLowerCase().replace("age-secret-key-1", "age-secret-key-1").slice(0, 20)),
        "# public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "SOPS_AGE_KEY_FILE=~/.config/sops/age/keys.txt",
        "Identities start with AGE-SECRET-KEY-1 and are bech32 encoded.",
        prose(`AGE-SECRET-KEY-2${good.slice(16)}`),
        prose(`AGE-SECRET-KEY-1${good.slice(16, 40)}`),
        prose(good.slice(0, 30) + good.slice(31, 40) + "B" + good.slice(41)),
      ];
    },
  },
  {
    id: "vault-token",
    gen: (r) => `${r.pick(["hvs", "hvs", "hvb", "hvr"])}.${r.str(B64URL, r.pick([24, 90, 120]))}`,
    contexts: [...anywhere("VAULT_TOKEN", "vault_token"), (v) => `curl -H "X-Vault-Token: ${v}" https://vault.internal:8200/v1/secret/data/app`],
    negatives: (r) => [
      prose(`hvs.${r.str(B64URL, 10)}`),
      prose(`hvs.${"x".repeat(24)}`),
      prose(`hvx.${r.str(B64URL, 30)}`),
      "VAULT_TOKEN=${VAULT_TOKEN}",
      "Service tokens have the hvs. prefix since Vault 1.10.",
      `VAULT_ADDR=https://vault.internal:8200`,
      prose(`HVS.${r.str(B64URL, 30)}`),
      prose(`thvs.${r.str(B64URL, 30)}`),
      "VAULT_NAMESPACE=admin/team-a",
      `vault kv get -field=password secret/${r.str(LOWER, 6)}`,
    ],
  },
  {
    id: "databricks-token",
    gen: (r) => `dapi${r.str(HEX, 32)}${r.pick(["", "", "-2"])}`,
    contexts: [...anywhere("DATABRICKS_TOKEN", "token"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`dapi${r.str(HEX, 31)}`),
      prose(`dapi${r.str(HEX, 33)}`),
      prose(`dapi${"0".repeat(32)}`),
      prose(`dapi${r.str(ALNUM, 32)}`),
      "DATABRICKS_TOKEN=${DATABRICKS_TOKEN}",
      "Personal access tokens start with dapi.",
      `DATABRICKS_HOST=https://adb-${r.str(DIGITS, 16)}.azuredatabricks.net`,
      prose(`DAPI${r.str(HEX, 32)}`),
      prose(`xdapi${r.str(HEX, 32)}`),
      `cluster_id: ${r.str(DIGITS, 4)}-${r.str(DIGITS, 6)}-${r.str(LOWER, 8)}`,
    ],
  },
  {
    id: "grafana-token",
    gen: (r, i) => (i % 2 === 0 ? `glsa_${r.str(ALNUM, 32)}_${r.str(HEX, 8)}` : `glc_${r.str(B64, 60)}`),
    contexts: [...anywhere("GRAFANA_TOKEN", "grafana_token"), headerLine("Bearer")],
    negatives: (r) => [
      prose(`glsa_${r.str(ALNUM, 31)}_${r.str(HEX, 8)}`),
      prose(`glsa_${r.str(ALNUM, 32)}_${r.str(HEX, 7)}`),
      prose(`glc_${r.str(B64, 20)}`),
      prose(`glsa_${"x".repeat(32)}_${"0".repeat(8)}`),
      "GRAFANA_TOKEN=${GRAFANA_TOKEN}",
      "Service account tokens start with glsa_.",
      `dashboard uid: ${r.str(ALNUM, 9)}`,
      prose(`GLSA_${r.str(ALNUM, 32)}_${r.str(HEX, 8)}`),
      prose(`xglc_${r.str(B64, 60)}`),
      `GRAFANA_URL=https://grafana.internal`,
    ],
  },
  {
    id: "sentry-token",
    gen: (r, i) =>
      i % 2 === 0 ? `sntryu_${r.str(HEX, 64)}` : `sntrys_${b64url(JSON.stringify({ iat: 1700000000 + i, url: "https://sentry.io", region_url: "https://us.sentry.io", org: "acme" })).replace(/=+$/, "")}_${r.str(B64, 43)}`,
    contexts: anywhere("SENTRY_AUTH_TOKEN", "auth_token"),
    negatives: (r) => [
      prose(`sntryu_${r.str(HEX, 63)}`),
      prose(`sntryu_${"0".repeat(64)}`),
      prose(`sntrys_${r.str(B64, 40)}`),
      "SENTRY_AUTH_TOKEN=${SENTRY_AUTH_TOKEN}",
      `SENTRY_DSN=https://${r.str(HEX, 32)}@o${r.str(DIGITS, 6)}.ingest.sentry.io/${r.str(DIGITS, 7)}`.replace(/https:\/\/[0-9a-f]{32}@/, "https://public@"),
      "User auth tokens start with sntryu_.",
      prose(`SNTRYU_${r.str(HEX, 64)}`),
      prose(`sntryx_${r.str(HEX, 64)}`),
      `event_id: ${r.str(HEX, 32)}`,
      prose(`xsntryu_${r.str(HEX, 64)}`),
    ],
  },
  {
    id: "postman-api-key",
    gen: (r) => `PMAK-${r.str(HEX, 24)}-${r.str(HEX, 34)}`,
    contexts: [...anywhere("POSTMAN_API_KEY", "postman_key"), (v) => `curl https://api.getpostman.com/collections -H "X-Api-Key: ${v}"`],
    negatives: (r) => [
      prose(`PMAK-${r.str(HEX, 23)}-${r.str(HEX, 34)}`),
      prose(`PMAK-${r.str(HEX, 24)}-${r.str(HEX, 33)}`),
      prose(`PMAK-${"0".repeat(24)}-${"0".repeat(34)}`),
      prose(`pmak-${r.str(HEX, 24)}-${r.str(HEX, 34)}`),
      "POSTMAN_API_KEY=${POSTMAN_API_KEY}",
      "Postman API keys start with PMAK-.",
      `collection uid: ${r.str(DIGITS, 8)}-${r.str(HEX, 8)}-${r.str(HEX, 4)}`,
      prose(`PMAK_${r.str(HEX, 24)}_${r.str(HEX, 34)}`),
      prose(`XPMAK-${r.str(HEX, 24)}-${r.str(HEX, 34)}`),
      prose(`PMAK-${r.str(HEX, 24)}`),
    ],
  },
  {
    id: "doppler-token",
    gen: (r) => `dp.${r.pick(["pt", "st", "ct", "sa"])}.${r.str(ALNUM, 43)}`,
    contexts: anywhere("DOPPLER_TOKEN", "doppler_token"),
    negatives: (r) => [
      prose(`dp.pt.${r.str(ALNUM, 20)}`),
      prose(`dp.xx.${r.str(ALNUM, 43)}`),
      prose(`dp.pt.${"x".repeat(43)}`),
      "DOPPLER_TOKEN=${DOPPLER_TOKEN}",
      "Service tokens start with dp.st. and personal ones with dp.pt.",
      `dp.pt is the personal token prefix`,
      prose(`DP.PT.${r.str(ALNUM, 43)}`),
      prose(`adp.pt.${r.str(ALNUM, 43)}`),
      `config: dev_personal`,
      `project: ${r.str(LOWER, 8)}`,
    ],
  },
  // ----------------------------------------------------------------- URLs and headers
  {
    id: "url-password",
    count: 200,
    gen: (r) => r.str(ALNUM, r.int(8, 14)) + r.pick(["", "!", "*", "~"]) + r.str(DIGITS, 2),
    contexts: [
      (v) => `DATABASE_URL=postgres://app_user:${v}@db.internal:5432/app`,
      (v) => `{"mongo": "mongodb+srv://admin:${v}@cluster0.ab1cd.mongodb.net/prod?retryWrites=true"}`,
      (v) => `redis://:${v}@cache.internal:6379/0`,
      (v) => `$ git clone https://deploy:${v}@git.example.com/acme/app.git`,
      (v) => `amqp://guest:${v}@rabbit:5672/vhost`,
      (v) => `2024-06-01 ERROR could not connect to mysql://root:${v}@10.0.0.12:3306/shop: timeout`,
    ],
    negatives: (r) => [
      "postgres://app_user@db.internal:5432/app",
      "https://db.internal:8443/path",
      "postgres://app_user:${DB_PASSWORD}@db.internal:5432/app",
      "postgres://app_user:****@db.internal:5432/app",
      "postgresql://USER:PASSWORD@HOST:PORT/DB",
      "https://example.com/@alice/posts",
      "ssh://git@github.com:22/acme/app.git",
      "postgresql://app:<password>@db:5432/app",
      `redis://localhost:6379/${r.int(0, 15)}`,
      "http://[::1]:8080/health",
      "http://user:@host/",
    ],
  },
  {
    id: "basic-auth-header",
    gen: (r) => Buffer.from(`${r.pick(["admin", "deploy", "ada"])}:${r.str(ALNUM, r.int(10, 20))}`).toString("base64"),
    contexts: [
      headerLine("Basic"),
      (v) => `proxy_set_header Authorization "Basic ${v}";`,
      (v) => `{"headers": {"Authorization": "Basic ${v}"}}`,
      (v) => `2024-06-01 DEBUG outgoing GET /admin headers={'Authorization': 'Basic ${v}'}`,
    ],
    negatives: (r) => [
      "Authorization: Basic <credentials>",
      "Basic authentication is not recommended over plain HTTP.",
      `Authorization: Basic ${Buffer.from("justausername").toString("base64")}`,
      "Basic Usage\n===========",
      `Authorization: Basic ${Buffer.from("user:").toString("base64")}`,
      "Authorization: Basic $CREDS",
      `Basic ${r.bytes(16).toString("base64")}`,
      "WWW-Authenticate: Basic realm=\"staging\"",
      `Authorization: Basic ${Buffer.from("user:changeme").toString("base64")}`,
      "BASIC 10 PRINT HELLO",
    ],
  },
  {
    id: "bearer-token",
    count: 200,
    gen: (r) => r.str(ALNUM + "-._~", r.int(24, 64)),
    contexts: [
      headerLine("Bearer"),
      (v) => `curl -H "Authorization: Bearer ${v}" https://api.example.com/v1/me`,
      (v) => `fetch(url, { headers: { Authorization: \`Bearer ${v}\` } })`,
      (v) => `2024-06-01 DEBUG retrying with bearer ${v} after 401`,
    ],
    negatives: (r) => [
      "Authorization: Bearer <token>",
      "Authorization: Bearer $TOKEN",
      'Authorization: Bearer ${{ secrets.API_TOKEN }}',
      "The API uses bearer token authentication (RFC 6750).",
      "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
      `Bearer ${"x".repeat(32)}`,
      "bearer tokens must be sent over TLS",
      `token_type: Bearer, expires_in: ${r.int(600, 7200)}`,
      "Authorization: Bearer",
      "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"",
    ],
  },
  // ----------------------------------------------------------------- context-based
  {
    id: "password-assignment",
    count: 200,
    gen: (r, i) =>
      [
        () => `${r.pick(["Summer", "Blue", "Tango", "Maple"])}${r.str(DIGITS, 4)}${r.pick(["!", "#", "$", "%"])}`,
        () => r.str(ALNUM + "!@#%^&*", r.int(12, 20)),
        () => `${r.str(LOWER, 5)}-${r.str(LOWER, 4)}-${r.str(DIGITS, 2)}-${r.str(LOWER, 5)}`,
        () => r.str(ALNUM, 16),
      ][i % 4]?.() ?? "",
    contexts: [
      envLine("DB_PASSWORD"),
      (v) => `spring.datasource.password=${v}`,
      (v) => `{"username": "admin", "password": "${v}"}`,
      (v) => `database:\n  user: app\n  password: "${v}"\n  host: db`,
      (v) => `$ mysql -u root --password=${v} shop`,
      (v) => `my wifi password is ${v} if you need it`,
      (v) => `<server>\n  <id>nexus</id>\n  <username>deploy</username>\n  <password>${v}</password>\n</server>`,
      (v) => `db = connect(host="db", user="app", passwd='${v}')`,
      (v) => `MYSQL_ROOT_PASSWORD: ${v}`,
      (v) => `Login: ada / Password: ${v}`,
    ],
    negatives: (r) => [
      "password: true",
      'password: "${DB_PASSWORD}"',
      'password = os.getenv("DB_PASSWORD")',
      "password=getpass.getpass()",
      'password_hash: "$2b$12$' + r.str(B64, 53) + '"',
      "password_min_length = 12",
      '"password": "********"',
      "Password must be at least 8 characters long.",
      "the password is incorrect, please try again",
      "password: Optional[str] = None",
      "passwordless: true",
      "compass_heading = 270deg",
      "bypass_cache: enabled",
      `"password": "string"`,
      "password: {{ vault_db_password }}",
      "password_file: /run/secrets/db_password",
      "self.password = password",
      "Forgot password? Reset it here.",
    ],
  },
  {
    id: "secret-assignment",
    count: 200,
    gen: (r, i) => (i % 3 === 0 ? r.str(HEX, 64) : i % 3 === 1 ? r.str(ALNUM, r.int(16, 40)) : `${r.str(B64URL, 43)}=`),
    contexts: [
      envLine("JWT_SECRET"),
      (v) => `SECRET_KEY = '${v}'`,
      (v) => `{"client_id": "web", "client_secret": "${v}"}`,
      (v) => `webhook:\n  signing_key: ${v}\n  url: https://example.org/hook`,
      (v) => `curl -H "X-API-Key: ${v}" https://api.example.org/v2/items`,
      (v) => `const config = { apiKey: "${v}", region: "eu" };`,
      (v) => `session_secret=${v}`,
      (v) => `<add key="ApiKey" value="x" />\n<apiKey>${v}</apiKey>`,
      (v) => `MY_SERVICE_TOKEN=${v}`,
    ],
    negatives: (r) => [
      "secret_name: my-app-secret-2024",
      "token_type: Bearer",
      "max_tokens: 4096",
      `"next_page_token": "${r.str(ALNUM, 40)}"`,
      "api_key: ${OPENAI_API_KEY}",
      "apiKey: process.env.API_KEY",
      "secretKeyRef:\n  name: db\n  key: password",
      "token_url: https://oauth2.googleapis.com/token",
      `"publicKey": "${r.str(B64, 44)}"`,
      'client_secret: "<your-client-secret>"',
      "SECRET_KEY_LENGTH=64",
      "tokenizer: cl100k_base",
      "api_key: getApiKey()",
      `csrf_token: ${r.str(ALNUM, 32)}`,
      "secrets: inherit",
      `api_key_id: ${r.str(ALNUM, 20)}`,
    ],
  },
  {
    id: "generic-high-entropy-assignment",
    count: 200,
    gen: (r) => {
      for (;;) {
        const v = r.str(ALNUM, r.int(28, 48));
        if (/[a-z]/.test(v) && /[A-Z]/.test(v) && /\d/.test(v)) return v;
      }
    },
    contexts: [
      (v) => `DJANGO_SK=${v}`,
      (v) => `{"service": "ingest", "hmacSeed": "${v}"}`,
      (v) => `internal:\n  shared_seed: ${v}\n  port: 8080`,
      (v) => `app.cfg.signer = "${v}"`,
      (v) => `ENCRYPTION_MATERIAL := ${v}`,
      (v) => `[auth]\ncookie_seed = ${v}\n`,
    ],
    negatives: (r) => [
      `sha256: ${r.str(HEX, 64)}`,
      `commit: ${r.str(HEX, 40)}`,
      `"id": "${[r.str(HEX, 8), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 12)].join("-")}"`,
      `"requestId": "${r.str(ALNUM, 28)}"`,
      `integrity: sha512-${r.str(B64, 86)}==`,
      `"mode": "ReadWriteOnceWithExpansion2"`,
      `"handler": "com.example.service.Handler2Impl"`,
      `"path": "src/components/UserProfileCard2.tsx"`,
      `"image": "data:image/png;base64,${r.str(B64, 60)}"`,
      `version: 1.2.3-beta.4+build.${r.str(DIGITS, 5)}`,
      `"next_cursor": "${r.str(ALNUM, 32)}"`,
      `"content": "${r.str(B64, 60)}"`,
      `url: https://cdn.example.com/assets/${r.str(ALNUM, 30)}.js`,
      `"publishableKey": "pk_live_${r.str(ALNUM, 30)}"`,
      `"messageId": "<${r.str(ALNUM, 30)}@mail.example.com>"`,
    ],
  },
  // ----------------------------------------------------------------- PII
  {
    id: "us-ssn",
    count: 200,
    gen: ssnValue,
    contexts: [
      (v) => `Employee: Ada Park\nSSN: ${v}\nStart date: 2021-03-01`,
      (v) => `{"name": "Lin Chen", "ssn": "${v}", "state": "CA"}`,
      (v) => `Hi, my social is ${v}, can you fill out the W-9 for me?`,
      (v) => `2024-06-01 INFO verify_identity ssn=${v} result=match`,
      (v) => `| Sam Ortiz | ${v} | 1985-04-12 |`,
    ],
    negatives: (r) => [
      `SSN: 000-${String(r.int(10, 99))}-${String(r.int(1000, 9999))}`,
      `SSN: 666-${String(r.int(10, 99))}-${String(r.int(1000, 9999))}`,
      `SSN: 9${String(r.int(10, 99))}-${String(r.int(10, 99))}-${String(r.int(1000, 9999))}`,
      `SSN: ${String(r.int(100, 665))}-00-${String(r.int(1000, 9999))}`,
      `SSN: ${String(r.int(100, 665))}-${String(r.int(10, 99))}-0000`,
      "Call 415-555-0123 for support.",
      "Build 2024-06-01-1234 finished.",
      `part no. ${r.int(100, 899)}-${r.int(10, 99)}-${r.int(1000, 9999)}-B`,
      `ISBN 978-3-16-148410-0`,
      "SSN: 078-05-1120 (the Woolworth wallet card number)",
      `version ${r.int(100, 899)}-${r.int(10, 99)}-${r.int(10000, 99999)}`,
      `tracking ${r.int(1000, 8999)}-${r.int(10, 99)}-${r.int(1000, 9999)}`,
    ],
  },
  {
    id: "payment-card",
    count: 200,
    gen: (r) => formatCard(r, cardNumber(r)),
    contexts: [
      (v) => `Card number: ${v}\nExpiry: 09/27\nName: ADA PARK`,
      (v) => `{"payment": {"pan": "${v}", "exp_month": 9, "exp_year": 2027}}`,
      (v) => `can you book it with my card ${v}? cvc is on the back`,
      (v) => `2024-06-01 DEBUG charge request card=${v} amount=42.00 currency=EUR`,
    ],
    negatives: (r) => {
      const good = cardNumber(r);
      const bad = good.slice(0, -1) + String((Number(good.slice(-1)) + 1) % 10);
      return [
        `Card number: ${bad}`,
        `order #${luhnComplete("1" + r.str(DIGITS, 14))}`,
        `tracking ${luhnComplete("9" + r.str(DIGITS, 14))}`,
        `Card number: ${luhnComplete("4" + r.str(DIGITS, 10))}`,
        "timestamp_ms=1717236000000",
        `account 4111 1111 1111 111`,
        `phone +4111111111111111`,
        `Card: 0000 0000 0000 0000`,
        `value 4111111111111111.25`,
        `id ${luhnComplete("4" + r.str(DIGITS, 18))}`,
        `IP 192.168.100.200 port 8080`,
        `Card: ${luhnComplete("7" + r.str(DIGITS, 14))}`,
      ];
    },
  },
  {
    id: "iban",
    count: 200,
    gen: (r, i) => {
      const countries = Object.keys(IBAN_BBAN);
      const country = countries[i % countries.length] ?? "DE";
      const iban = makeIban(country, IBAN_BBAN[country]?.(r) ?? "");
      return i % 2 === 0 ? iban : groupBy4(iban);
    },
    contexts: [
      (v) => `Please transfer the deposit to IBAN ${v} (Acme GmbH) by Friday.`,
      (v) => `{"beneficiary": "Acme BV", "iban": "${v}", "bic": "ABNANL2A"}`,
      (v) => `Bank details:\n  IBAN: ${v}\n  BIC: DEUTDEFF`,
      (v) => `INFO payout scheduled to ${v} amount=120.00`,
    ],
    negatives: (r) => {
      const good = makeIban("DE", r.str(DIGITS, 18));
      const badCheck = `DE${good.slice(2, 4) === "00" ? "01" : "00"}${good.slice(4)}`;
      return [
        `IBAN: ${badCheck}`,
        `IBAN: ${good.slice(0, -1)}`,
        `IBAN: ${good}0`,
        `IBAN: ZZ${good.slice(2)}`,
        `IBAN: ${groupBy4(good).replace(/ /g, "  ")}`,
        "IBAN: DE00 0000 0000 0000 0000 00",
        `model DE89X${r.str(DIGITS, 6)}`,
        `SKU AB12${r.str(UPPER + DIGITS, 14)}`,
        `IBAN: ${makeIban("GB", "NWBK" + r.str(DIGITS, 14)).slice(0, 20)}`,
        "IBAN format: CCkk BBBB BBBB BBBB BBBB BB",
        `Flight LH12${r.str(DIGITS, 3)} departs 09:40`,
      ];
    },
  },
  {
    id: "bank-account",
    gen: (r) => r.str(DIGITS, r.int(8, 12)).replace(/^0/, "3"),
    contexts: [
      (v) => `Account number: ${v}\nRouting number: 021000021`,
      (v) => `please send it to acct #${v}, thanks`,
      (v) => `{"bank": "First Example", "account_number": "${v}"}`.replace("account_number", "account number"),
      (v) => `Bank account ${v} was debited 42.00 USD`,
      (v) => `Kontonummer: ${v}`,
      (v) => `A/C No. ${v}`,
    ],
    negatives: (r) => [
      "Account number: see the attached statement",
      `account id ${r.int(1, 99)}`,
      "Account 2 of 3 created",
      `account balance ${r.int(1000, 99999)}.00`,
      `Routing number: 021000021`,
      `account created 2024-01-15`,
      `Account number: ${r.str(DIGITS, 4)}`,
      `Account number: ****${r.str(DIGITS, 4)}`,
      `accounts: ${r.int(100000, 999999)} total users`,
      `account number: 00000000`,
      "Your account is locked for 15 minutes.",
    ],
  },
  {
    id: "email",
    gen: (r) => `${r.pick(["ada", "lin.chen", "sam_ortiz", "j.doe+news"])}${r.int(1, 99)}@${r.pick(["mail", "acme-corp", "uni"])}.${r.pick(["com", "org", "de", "co.uk", "io"])}`,
    contexts: [
      (v) => `From: Ada Park <${v}>\nSubject: Quarterly report`,
      (v) => `{"user": {"name": "Lin", "email": "${v}"}}`,
      (v) => `please cc ${v} on the thread`,
      (v) => `2024-06-01 INFO login ok user=${v} ip=10.0.0.3`,
    ],
    negatives: (r) => [
      "git@github.com:acme/app.git",
      "icon@2x.png and icon@3x.png",
      "npm install @types/node@24.0.1",
      "ping me @ada on slack",
      "postgres://app@db.internal/app",
      `user@localhost`,
      "price is 5 @ 10 EUR each",
      `decorator @Component({selector: 'x'})`,
      `ada@${r.str(LOWER, 6)}`,
      "email: <redacted>",
    ],
  },
  {
    id: "phone",
    gen: (r, i) =>
      [
        () => `+1 ${r.int(201, 989)} ${r.int(200, 999)} ${r.str(DIGITS, 4)}`,
        () => `(${r.int(201, 989)}) ${r.int(200, 999)}-${r.str(DIGITS, 4)}`,
        () => `${r.int(201, 989)}-${r.int(200, 999)}-${r.str(DIGITS, 4)}`,
        () => `+44 20 ${r.str(DIGITS, 4)} ${r.str(DIGITS, 4)}`,
        () => `+49 30 ${r.str(DIGITS, 8)}`,
        () => `0${r.int(6, 7)} ${r.str(DIGITS, 2)} ${r.str(DIGITS, 2)} ${r.str(DIGITS, 2)} ${r.str(DIGITS, 2)}`,
        () => `+33${r.int(6, 7)}${r.str(DIGITS, 8)}`,
        () => `030 ${r.str(DIGITS, 7)}`,
      ][i % 8]?.() ?? "",
    contexts: [
      (v) => `Call me at ${v} after 5pm.`,
      (v) => `{"contact": {"phone": "${v}"}}`,
      (v) => `Tel: ${v}\nFax: none`,
      (v) => `2024-06-01 INFO sms sent to=${v} status=queued`,
    ],
    negatives: (r) => [
      "Release date 2024-06-01",
      "15.01.2024 10:30",
      "01/02/2023",
      "IP 192.168.100.200",
      "version 1.2.3",
      `Order #${r.str(DIGITS, 9)}`,
      "ISBN 978-3-16-148410-0",
      "ticket REF-12-3456-789",
      "Total: $1,234.56",
      "latency 0.5555 ms",
      `zip 9${r.str(DIGITS, 4)}`,
    ],
  },
];

/** A value from a side seed, for contexts that need a second random string. */
function r0(): string {
  return new Rng(7).str(BECH32, 58);
}

/** Builds the corpus deterministically; every call returns the same strings. */
export function buildCorpus(positivesPerDetector = 24): DetectorCorpus[] {
  return SPECS.map((spec, specIndex) => {
    const r = new Rng(0xae915 + specIndex * 7919);
    const positives: Positive[] = [];
    const n = Math.max(spec.count ?? positivesPerDetector, spec.contexts.length * 2);
    for (let i = 0; i < n; i += 1) {
      const value = spec.gen(r, i);
      const context = spec.contexts[i % spec.contexts.length];
      if (context === undefined) throw new Error(spec.id);
      const text = context(value, r);
      positives.push({ text, values: valuesIn(text, value) });
    }
    return { id: spec.id, positives, negatives: spec.negatives(r) };
  });
}

/**
 * What of `value` the text actually holds: the value itself; for a multi-line
 * value (a PEM block) re-indented or JSON-escaped, each of its lines; for a
 * value cut off mid-way (a key truncated in an error message), the part present.
 */
function valuesIn(text: string, value: string): string[] {
  if (text.includes(value)) return [value];
  const lines = value.includes("\n") ? value.split("\n") : [value];
  return lines
    // PEM BEGIN/END lines are not secret (negatives contain them too): the body lines are what must go.
    .filter((l) => l.length >= 20 && !l.startsWith("-----"))
    .map((l) => (text.includes(l) ? l : longestPrefixIn(text, l)))
    .filter((l) => l.length >= 8);
}

function longestPrefixIn(text: string, value: string): string {
  let n = value.length;
  while (n > 0 && !text.includes(value.slice(0, n))) n -= 1;
  return value.slice(0, n);
}

/** A digest of the corpus, printed with the metrics so a report names exactly which corpus it measured. */
export function corpusDigest(corpus: readonly DetectorCorpus[]): string {
  return createHash("sha256").update(JSON.stringify(corpus)).digest("hex").slice(0, 16);
}

// ---------------------------------------------------------------------------
// Mixed text for throughput measurements

const WORDS =
  "the a to of and in for on with is was be that this it from by at as are we you they your our will can not have has new data file user request response server client build test deploy error warning report meeting calendar invoice budget quarterly review draft schedule please thanks update config value result check status ready queue retry timeout cache index table column migration release notes customer order shipment payment account project task issue comment branch commit merge review approve".split(
    " ",
  );

function sentence(r: Rng): string {
  const n = r.int(6, 18);
  const words = Array.from({ length: n }, () => r.pick(WORDS));
  const first = words[0] ?? "the";
  words[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return `${words.join(" ")}.`;
}

const uuid = (r: Rng): string => [r.str(HEX, 8), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 4), r.str(HEX, 12)].join("-");

/** Ordinary agent traffic: prose, logs, API JSON, code, config, markdown. Ids, digests, timestamps, IPs, paths: everything that looks a bit like a secret and is not. */
function fillerBlock(r: Rng): string {
  switch (r.int(0, 5)) {
    case 0:
      return Array.from({ length: r.int(2, 6) }, () => sentence(r)).join(" ");
    case 1:
      return Array.from(
        { length: r.int(3, 8) },
        () =>
          `2024-06-${String(r.int(1, 28)).padStart(2, "0")}T${String(r.int(0, 23)).padStart(2, "0")}:${String(r.int(0, 59)).padStart(2, "0")}:12.${r.str(DIGITS, 3)}Z ${r.pick(["INFO", "WARN", "DEBUG"])} ${r.pick(["http", "db", "queue"])} request_id=${uuid(r)} path=/api/v1/${r.pick(["orders", "users", "items"])}/${r.int(1, 99999)} status=${r.pick([200, 201, 404, 500])} duration_ms=${r.int(1, 900)} ip=10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
      ).join("\n");
    case 2:
      return JSON.stringify({
        id: uuid(r),
        object: "message",
        created: 1717200000 + r.int(0, 999999),
        etag: r.str(HEX, 32),
        commit: r.str(HEX, 40),
        author: { name: "Ada Park", login: `ada${r.int(1, 99)}` },
        title: sentence(r),
        labels: ["bug", "p2"],
        url: `https://api.example.com/v1/items/${r.int(1, 99999)}?page=${r.int(1, 9)}`,
      });
    case 3:
      return [
        `export async function ${r.pick(["loadUser", "saveOrder", "listItems"])}(id: string): Promise<Result> {`,
        `  const res = await fetch(\`\${BASE_URL}/items/\${id}\`, { headers: { Accept: "application/json" } });`,
        `  if (!res.ok) throw new Error(\`request failed: \${res.status}\`);`,
        `  return (await res.json()) as Result; // ${sentence(r)}`,
        "}",
      ].join("\n");
    case 4:
      return [
        "server:",
        `  port: ${r.int(1024, 9999)}`,
        `  host: 0.0.0.0`,
        `  log_level: ${r.pick(["info", "debug"])}`,
        "database:",
        `  url: postgres://app@db.internal:5432/app`,
        `  pool_size: ${r.int(2, 32)}`,
        `  image: registry.example.com/app@sha256:${r.str(HEX, 64)}`,
      ].join("\n");
    default:
      return `## ${sentence(r)}\n\n- ${sentence(r)}\n- ${sentence(r)}\n\n\`\`\`sh\nnpm install && npm test -- --grep "${r.pick(WORDS)}"\n\`\`\``;
  }
}

/**
 * About `bytes` characters of mixed text: filler blocks with the corpus's
 * positives and negatives sprinkled in (roughly one in eight blocks), so
 * every detector has work to do. Returns the text and the positive values it
 * contains.
 */
export function mixedText(bytes: number, seed = 42): { text: string; values: string[] } {
  const r = new Rng(seed);
  const corpus = buildCorpus();
  // Round-robin over detectors, so that even a short text holds samples of every kind.
  const perDetector = corpus.map((c) => [...c.positives.map((p) => ({ text: p.text, values: p.values })), ...c.negatives.map((n) => ({ text: n, values: [] as readonly string[] }))]);
  const longest = Math.max(...perDetector.map((list) => list.length));
  const samples = Array.from({ length: longest }, (_, i) => perDetector.flatMap((list) => (i < list.length ? [list[i]] : []))).flat();
  const parts: string[] = [];
  const values: string[] = [];
  let size = 0;
  let k = 0;
  while (size < bytes) {
    let block: string;
    if (r.int(0, 7) === 0) {
      const sample = samples[k % samples.length];
      k += 1;
      if (sample === undefined) continue;
      block = sample.text;
      values.push(...sample.values);
    } else block = fillerBlock(r);
    parts.push(block);
    size += block.length + 2;
  }
  return { text: parts.join("\n\n"), values };
}
