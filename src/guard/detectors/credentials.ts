/**
 * Credential detectors. Each recognises one kind of secret by what is
 * distinctive about it: a vendor prefix and exact length (`ghp_` + 36), a
 * structure that can be checked (a JWT header that is JSON with "alg", an age
 * key's bech32 checksum, a Discord token whose first part decodes to a user
 * id, an Azure key that decodes to 64 bytes), or, when the value itself is
 * anonymous (40 base64 characters), the key it is assigned to
 * (`aws_secret_access_key = …`). The generic detectors at the end catch
 * secrets by assignment context and entropy; they are listed last so that, on
 * a tie, the specific label wins (see `mergeFindings`).
 *
 * Formats follow the vendors' documentation and the gitleaks rule set (MIT);
 * the code is ours.
 */
import type { Detector, Finding } from "./detector.ts";
import {
  ASSIGN,
  ASSIGN_OR_SPACE,
  backOver,
  backTo,
  declareScanNeeds,
  patternDetector,
  positionsOf,
  registerTriggers,
  type AnchoredPattern,
  type Anchor,
  type PatternMatch,
  type Span,
  type TriggeredPattern,
} from "./pattern.ts";
import { charSet, every, oneOf, some, type AtOffset } from "./prefilter.ts";
import {
  charClasses,
  bech32Valid,
  decodeBase64,
  decodeJsonSegment,
  identifierWords,
  isPlaceholder,
  looksRandom,
  plausibleTokenBody,
  textStats,
} from "./validators.ts";

/** Not followed by another character of a base64url token. */
const END = "(?![A-Za-z0-9_-])";
/** Not followed by a letter or digit. */
const END_ALNUM = "(?![A-Za-z0-9])";

interface TokenSpec {
  readonly id: string;
  readonly description: string;
  readonly replacement: string;
  readonly patterns: readonly (RegExp | TriggeredPattern | AnchoredPattern)[];
  /** How many leading characters of the match are a fixed prefix, excluded from the randomness check; or a regex removing it. */
  readonly prefix?: number | RegExp;
  /** Extra structural check on the whole match. */
  readonly check?: (value: string, m: PatternMatch) => boolean;
}

/** A token recognised by its own shape: vendor prefix + charset + length; rejects documentation fakes. */
function token(spec: TokenSpec): Detector {
  const { prefix, check } = spec;
  const body = (v: string): string => (prefix === undefined ? v : typeof prefix === "number" ? v.slice(prefix) : v.replace(prefix, ""));
  return patternDetector({
    id: spec.id,
    kind: "credential",
    description: spec.description,
    replacement: spec.replacement,
    patterns: spec.patterns,
    accept: (m) => plausibleTokenBody(body(m.value)) && (check === undefined || check(m.value, m)),
  });
}

/** A pattern that runs only where one of `triggers` occurs, optionally starting up to `back` characters before it (see pattern.ts). */
function triggered(re: RegExp, triggers: readonly string[], back: TriggeredPattern["back"] = 0): TriggeredPattern {
  return { re, triggers, back };
}

/**
 * The identifier a value is assigned to: from the start of the regex match,
 * extended backwards over identifier characters (the key regexes start at a
 * keyword, which may sit in the middle of `MY_APP_DATADOG_API_KEY`), up to the
 * separator.
 */
export function assignmentKey(text: string, matchStart: number, valueStart: number): string {
  const start = identifierStart(text, matchStart);
  let end = start;
  while (end < valueStart && isIdentifierCode(text.charCodeAt(end))) end += 1;
  return text.slice(start, end);
}

/** `[A-Za-z0-9_.-]`, by character code (no per-character strings or regex calls: this runs for every candidate key). */
function isIdentifierCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45;
}

/** Where the identifier containing `pos` starts (at most 64 characters back). */
function identifierStart(text: string, pos: number): number {
  let s = pos;
  while (s > 0 && s > pos - 64 && isIdentifierCode(text.charCodeAt(s - 1))) s -= 1;
  return s;
}

function wordsOfKey(m: PatternMatch): string[] {
  return identifierWords(assignmentKey(m.text, m.match.index, m.start));
}

/** A key regex source followed by an identifier tail, an assignment, and a captured value. */
function keyed(key: string, value: string, options: { readonly tail?: boolean; readonly sep?: string } = {}): RegExp {
  const tail = options.tail === false ? "" : "[A-Za-z0-9_.-]{0,24}";
  return new RegExp(`(?:${key})${tail}${options.sep ?? ASSIGN}(${value})`, "gi");
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** Words that make a key a credential rather than, say, an id or a URL. */
const CREDENTIAL_WORDS = new Set(["api", "key", "token", "secret", "password", "pass", "pwd", "auth", "oauth", "credential", "credentials", "pat"]);
const hasAny = (words: readonly string[], set: ReadonlySet<string>): boolean => words.some((w) => set.has(w));
/** A set from a space-separated list of words. */
const wordSet = (list: string): ReadonlySet<string> => new Set(list.split(" ").filter((w) => w.length > 0));

/** A Discord bot token's first part is the bot's user id (a snowflake, 17–20 digits) in base64. */
function discordUserIdPart(value: string): boolean {
  const first = value.split(".")[0] ?? "";
  const decoded = decodeBase64(first)?.toString("latin1") ?? "";
  return /^\d{17,20}$/.test(decoded);
}

/** A JWT's header is base64url JSON naming its algorithm. */
function jwtHeaderValid(value: string): boolean {
  const header = decodeJsonSegment(value.slice(0, value.indexOf(".")));
  return header !== undefined && typeof header.alg === "string";
}

// ---------------------------------------------------------------------------
// Cloud providers

const awsAccessKeyId = token({
  id: "aws-access-key-id",
  description: "AWS access key id (AKIA/ASIA/ABIA/ACCA/A3T…, 20 characters, base32 body)",
  replacement: "[AWS_ACCESS_KEY_ID]",
  patterns: [triggered(new RegExp(String.raw`\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}${END_ALNUM}`, "g"), ["AKIA", "ASIA", "ABIA", "ACCA", "A3T"])],
  prefix: 4,
  // AWS documentation's own examples end in EXAMPLE.
  check: (v) => !v.endsWith("EXAMPLE"),
});

const awsSecretAccessKey = patternDetector({
  id: "aws-secret-access-key",
  kind: "credential",
  description: "AWS secret access key: 40 base64 characters assigned to aws_secret_access_key / SecretAccessKey / AWS_SECRET…",
  replacement: "[AWS_SECRET_ACCESS_KEY]",
  patterns: [
    triggered(
      keyed(String.raw`aws[_.-]?secret(?:[_.-]?access)?(?:[_.-]?key)?|secret[_.-]?access[_.-]?key`, String.raw`[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])`, {
        tail: false,
        sep: ASSIGN_OR_SPACE,
      }),
      ["aws", "secret"],
    ),
  ],
  accept: (m) => looksRandom(m.value, 40, 2, 3.5) && !m.value.includes("EXAMPLE"),
});

const googleApiKey = token({
  id: "google-api-key",
  description: "Google API key (AIza + 35 characters)",
  replacement: "[GOOGLE_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bAIza[A-Za-z0-9_-]{35}${END}`, "g"), ["AIza"])],
  prefix: 4,
});

const googleOauthClientSecret = token({
  id: "google-oauth-client-secret",
  description: "Google OAuth client secret (GOCSPX-…)",
  replacement: "[GOOGLE_OAUTH_CLIENT_SECRET]",
  patterns: [triggered(new RegExp(String.raw`\bGOCSPX-[A-Za-z0-9_-]{24,32}${END}`, "g"), ["GOCSPX-"])],
  prefix: 7,
});

const azureStorageAccountKey = patternDetector({
  id: "azure-storage-account-key",
  kind: "credential",
  description: "Azure storage account key (AccountKey=… in a connection string, or an AZURE_STORAGE_KEY assignment): 64 bytes in base64",
  replacement: "[AZURE_STORAGE_KEY]",
  patterns: [
    triggered(/AccountKey=([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/gi, ["AccountKey="]),
    triggered(keyed(String.raw`azure[_.-]?storage[_.-]?(?:account[_.-]?)?(?:access[_.-]?)?key`, String.raw`[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])`, { tail: false }), ["azure"]),
  ],
  accept: (m) => decodeBase64(m.value)?.length === 64 && looksRandom(m.value, 88, 3, 4.5),
});

const azureSharedAccessKey = patternDetector({
  id: "azure-shared-access-key",
  kind: "credential",
  description: "Azure Service Bus / Event Hubs / IoT Hub SharedAccessKey= in a connection string (32 bytes in base64)",
  replacement: "[AZURE_SHARED_ACCESS_KEY]",
  patterns: [triggered(/SharedAccessKey=([A-Za-z0-9+/]{43}=)(?![A-Za-z0-9+/=])/gi, ["SharedAccessKey="])],
  accept: (m) => decodeBase64(m.value)?.length === 32 && looksRandom(m.value, 44, 3, 4.0),
});

const azureSasSignature = patternDetector({
  id: "azure-sas-signature",
  kind: "credential",
  description: "Azure SAS token signature (sig= in a SAS URL or connection string: HMAC-SHA256 in URL-encoded base64)",
  replacement: "[AZURE_SAS_SIGNATURE]",
  patterns: [triggered(/(?:^|[?&;\s"'])sig=((?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:=|%3[Dd]))(?![A-Za-z0-9%+/=])/g, ["sig="], 1)],
  accept: (m) => {
    let raw: string;
    try {
      raw = decodeURIComponent(m.value);
    } catch {
      return false;
    }
    return decodeBase64(raw)?.length === 32 && looksRandom(raw, 44, 2, 3.8);
  },
});

const herokuApiKey = patternDetector({
  id: "heroku-api-key",
  kind: "credential",
  description: "Heroku API key: a UUID assigned to a heroku …key/token, or an HRKU-AA… token",
  replacement: "[HEROKU_API_KEY]",
  patterns: [triggered(keyed("heroku", `${UUID}${END_ALNUM}`), ["heroku"]), triggered(new RegExp(String.raw`\bHRKU-AA[0-9A-Za-z_-]{58}${END}`, "g"), ["HRKU-AA"])],
  accept: (m) => {
    if (m.value.startsWith("HRKU-")) return plausibleTokenBody(m.value.slice(7));
    const words = wordsOfKey(m);
    return words.includes("heroku") && hasAny(words, CREDENTIAL_WORDS) && !words.includes("id") && plausibleTokenBody(m.value.replace(/-/g, ""));
  },
});

const digitaloceanToken = token({
  id: "digitalocean-token",
  description: "DigitalOcean personal access / OAuth / refresh token (dop_v1_, doo_v1_, dor_v1_ + 64 hex)",
  replacement: "[DIGITALOCEAN_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bdo[opr]_v1_[a-f0-9]{64}${END_ALNUM}`, "g"), ["dop_v1_", "doo_v1_", "dor_v1_"])],
  prefix: 7,
});

// ---------------------------------------------------------------------------
// Source hosting and package registries

const githubPat = token({
  id: "github-pat",
  description: "GitHub personal access token, classic (ghp_ + 36)",
  replacement: "[GITHUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bghp_[A-Za-z0-9]{36}${END}`, "g"), ["ghp_"])],
  prefix: 4,
});

const githubFineGrainedPat = token({
  id: "github-fine-grained-pat",
  description: "GitHub fine-grained personal access token (github_pat_ + 22 + _ + 59)",
  replacement: "[GITHUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}${END}`, "g"), ["github_pat_"])],
  prefix: 11,
});

const githubOauthToken = token({
  id: "github-oauth-token",
  description: "GitHub OAuth access token (gho_ + 36)",
  replacement: "[GITHUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bgho_[A-Za-z0-9]{36}${END}`, "g"), ["gho_"])],
  prefix: 4,
});

const githubAppToken = token({
  id: "github-app-token",
  description: "GitHub App user-to-server or installation token (ghu_ / ghs_ + 36)",
  replacement: "[GITHUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bgh[us]_[A-Za-z0-9]{36}${END}`, "g"), ["ghu_", "ghs_"])],
  prefix: 4,
});

const githubRefreshToken = token({
  id: "github-refresh-token",
  description: "GitHub App refresh token (ghr_ + 36 or 76)",
  replacement: "[GITHUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bghr_(?:[A-Za-z0-9]{76}|[A-Za-z0-9]{36})${END}`, "g"), ["ghr_"])],
  prefix: 4,
});

const gitlabPat = token({
  id: "gitlab-pat",
  description: "GitLab personal/project/group access token (glpat- + 20, or the routable glpat-….xx format)",
  replacement: "[GITLAB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bglpat-(?:[A-Za-z0-9_-]{20}|[A-Za-z0-9_-]{27,300}\.[0-9a-z]{9})${END}`, "g"), ["glpat-"])],
  prefix: 6,
});

const gitlabOtherToken = token({
  id: "gitlab-token",
  description: "Other GitLab tokens: pipeline trigger (glptt-), runner (glrt-), deploy (gldt-), feed (glft-), SCIM (glsoat-), agent (glagent-), OAuth app secret (gloas-), CI job (glcbt-)",
  replacement: "[GITLAB_TOKEN]",
  patterns: [
    triggered(
      new RegExp(
        String.raw`\b(?:glptt-[0-9a-f]{40}|gl(?:rt|dt|ft|soat|ffct|imt)-[A-Za-z0-9_-]{20,64}|glagent-[A-Za-z0-9_-]{50,64}|gloas-[A-Za-z0-9_-]{64}|glcbt-[0-9A-Za-z]{1,5}_[0-9A-Za-z_-]{20,64})${END}`,
        "g",
      ),
      ["glptt-", "glrt-", "gldt-", "glft-", "glsoat-", "glffct-", "glimt-", "glagent-", "gloas-", "glcbt-"],
    ),
  ],
  prefix: /^gl[a-z]+-/,
});

const npmToken = token({
  id: "npm-token",
  description: "npm access token (npm_ + 36)",
  replacement: "[NPM_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bnpm_[A-Za-z0-9]{36}${END}`, "g"), ["npm_"])],
  prefix: 4,
});

const pypiToken = token({
  id: "pypi-token",
  description: "PyPI / TestPyPI upload token (pypi-AgEIcHlwaS5vcmc… / pypi-AgENdGVzdC5weXBpLm9yZw…, a macaroon)",
  replacement: "[PYPI_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bpypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}${END}`, "g"), ["pypi-"])],
  prefix: 24,
});

const dockerHubPat = token({
  id: "docker-hub-pat",
  description: "Docker Hub personal / organisation access token (dckr_pat_ / dckr_oat_)",
  replacement: "[DOCKER_HUB_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{24,64}${END}`, "g"), ["dckr_"])],
  prefix: 9,
});

// ---------------------------------------------------------------------------
// AI providers

const openaiApiKey = token({
  id: "openai-api-key",
  description: "OpenAI API key (sk-proj- / sk-svcacct- / sk-admin- / legacy sk- + 48 with the T3BlbkFJ marker) and OpenAI-compatible sk- keys",
  replacement: "[OPENAI_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bsk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250}|[A-Za-z0-9]{32,64})${END}`, "g"), ["sk-"])],
  prefix: /^sk-(?:(?:proj|svcacct|admin|None)-)?/,
  check: (v) => charClasses(v.slice(3)).count >= 2,
});

const anthropicApiKey = token({
  id: "anthropic-api-key",
  description: "Anthropic API / admin / OAuth key (sk-ant-api03-…, sk-ant-admin01-…, sk-ant-oat01-…)",
  replacement: "[ANTHROPIC_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bsk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{40,200}${END}`, "g"), ["sk-ant-"])],
  prefix: /^sk-ant-[a-z]+\d+-/,
});

const huggingfaceToken = token({
  id: "huggingface-token",
  description: "Hugging Face user or organisation token (hf_ / api_org_ + 34)",
  replacement: "[HUGGINGFACE_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\b(?:hf|api_org)_[A-Za-z0-9]{34}${END}`, "g"), ["hf_", "api_org_"])],
  prefix: /^(?:hf|api_org)_/,
  check: (v) => charClasses(v.replace(/^(?:hf|api_org)_/, "")).count >= 2,
});

// ---------------------------------------------------------------------------
// Messaging and collaboration

const slackBotToken = token({
  id: "slack-bot-token",
  description: "Slack bot token (xoxb-…)",
  replacement: "[SLACK_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bxoxb-\d{8,14}-(?:\d{8,14}-)?[A-Za-z0-9]{18,48}${END}`, "g"), ["xoxb-"])],
  prefix: /^xoxb-[\d-]+/,
});

const slackUserToken = token({
  id: "slack-user-token",
  description: "Slack user, workspace, refresh or legacy token (xoxp-, xoxa-, xoxe-, xoxr-, xoxs-, xoxo-)",
  replacement: "[SLACK_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bxox[paeros]-\d{1,14}(?:-\d{1,14}){0,3}-[A-Za-z0-9]{16,64}${END}`, "g"), ["xoxp-", "xoxa-", "xoxe-", "xoxr-", "xoxo-", "xoxs-"])],
  prefix: /^xox[a-z]-[\d-]+/,
});

const slackAppToken = token({
  id: "slack-app-token",
  description: "Slack app-level token (xapp-1-…)",
  replacement: "[SLACK_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bxapp-\d-[A-Za-z0-9]{8,16}-\d{8,16}-[A-Za-z0-9]{32,80}${END}`, "g"), ["xapp-"])],
  prefix: /^xapp-\d-[A-Za-z0-9]+-\d+-/,
});

const slackWebhookUrl = patternDetector({
  id: "slack-webhook-url",
  kind: "credential",
  description: "Slack incoming-webhook / workflow URL (hooks.slack.com/services|workflows|triggers/…); the whole URL is the credential",
  replacement: "[SLACK_WEBHOOK_URL]",
  patterns: [triggered(/(?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_-]{6,20}\/[A-Za-z0-9_-]{6,20}\/[A-Za-z0-9_/-]{16,80}(?![A-Za-z0-9_/-])/g, ["hooks.slack.com"], 8)],
  accept: (m) => plausibleTokenBody(m.value.slice(m.value.lastIndexOf("/") + 1)),
});

const TOKEN_CHAR = charSet(/[A-Za-z0-9_-]/, false);
/** The first dot of a Discord bot token: token characters before it, exactly six between it and the second dot, at least 27 after that. */
const DISCORD_DOT_ANCHOR: Anchor = {
  id: "discord-bot-token",
  at: [
    [0, oneOf(".")],
    [7, oneOf(".")],
    ...[1, 2, 3, 4, 5, 6, -1, 8, 20, 34].map((o): AtOffset => [o, TOKEN_CHAR]),
  ],
};
/** The token's first part ([MNO] + 23–27 characters) ends at the dot: its start is 24–28 characters before. */
function discordTokenStarts(text: string, dot: number): number[] {
  const out: number[] = [];
  for (let q = Math.max(0, dot - 28); q <= dot - 24; q += 1) {
    const c = text.charCodeAt(q);
    if (c === 77 || c === 78 || c === 79) out.push(q);
  }
  return out;
}

const discordBotToken = token({
  id: "discord-bot-token",
  description: "Discord bot token (base64 user id . timestamp . HMAC); the first part must decode to a 17–20 digit id",
  replacement: "[DISCORD_BOT_TOKEN]",
  patterns: [
    {
      re: new RegExp(String.raw`\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}${END}`, "g"),
      anchor: DISCORD_DOT_ANCHOR,
      back: discordTokenStarts,
    },
  ],
  prefix: /^[^.]+\.[^.]+\./,
  check: discordUserIdPart,
});

const discordWebhookUrl = patternDetector({
  id: "discord-webhook-url",
  kind: "credential",
  description: "Discord webhook URL (discord.com/api/webhooks/<id>/<token>)",
  replacement: "[DISCORD_WEBHOOK_URL]",
  patterns: [
    triggered(new RegExp(String.raw`https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,68}${END}`, "g"), [
      "https://discord",
      "https://ptb.discord",
      "https://canary.discord",
      "http://discord",
    ]),
  ],
  accept: (m) => plausibleTokenBody(m.value.slice(m.value.lastIndexOf("/") + 1)),
});

const telegramBotToken = token({
  id: "telegram-bot-token",
  description: "Telegram bot token (bot id : 35 characters starting with A)",
  replacement: "[TELEGRAM_BOT_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`(?<![0-9])\d{8,10}:A[A-Za-z0-9_-]{34}${END}`, "g"), [":A"], backOver(/[0-9]/, 10))],
  prefix: /^\d+:/,
  check: (v) => charClasses(v.slice(v.indexOf(":") + 1)).count >= 3,
});

const linearApiKey = token({
  id: "linear-api-key",
  description: "Linear API key (lin_api_ + 40)",
  replacement: "[LINEAR_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\blin_api_[A-Za-z0-9]{40}${END}`, "g"), ["lin_api_"])],
  prefix: 8,
});

const notionToken = token({
  id: "notion-token",
  description: "Notion integration token (secret_ + 43, or ntn_ + 11 digits + 35)",
  replacement: "[NOTION_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\b(?:secret_[A-Za-z0-9]{43}|ntn_\d{11}[A-Za-z0-9]{35})${END}`, "g"), ["secret_", "ntn_"])],
  prefix: /^(?:secret|ntn)_/,
  check: (v) => charClasses(v.slice(v.indexOf("_") + 1)).count >= 2,
});

const atlassianApiToken = patternDetector({
  id: "atlassian-api-token",
  kind: "credential",
  description: "Atlassian (Jira, Confluence) API token: ATATT3… anywhere, or a 24-character token assigned to an atlassian/jira/confluence key",
  replacement: "[ATLASSIAN_API_TOKEN]",
  patterns: [
    triggered(new RegExp(String.raw`\bATATT3[A-Za-z0-9_=-]{150,250}(?![A-Za-z0-9_=-])`, "g"), ["ATATT3"]),
    triggered(keyed("atlassian|jira|confluence", `[A-Za-z0-9]{24}${END}`, { sep: ASSIGN_OR_SPACE }), ["atlassian", "jira", "confluence"]),
  ],
  accept: (m) => {
    if (m.value.startsWith("ATATT3")) return plausibleTokenBody(m.value.slice(6));
    const words = wordsOfKey(m);
    return hasAny(words, CREDENTIAL_WORDS) && looksRandom(m.value, 24, 2, 3.5);
  },
});

// ---------------------------------------------------------------------------
// E-mail and SMS

const sendgridApiKey = token({
  id: "sendgrid-api-key",
  description: "SendGrid API key (SG.<22>.<43>)",
  replacement: "[SENDGRID_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}${END}`, "g"), ["SG."])],
  prefix: 3,
});

const HEX = charSet(/[0-9a-f]/, false);
/** `SK` after a non-word character, then lower-case hex through the 34th character. */
const TWILIO_SID_ANCHOR: Anchor = {
  id: "twilio-api-key",
  at: [[0, oneOf("S")], [1, oneOf("K")], [2, HEX], [3, HEX], [-1, charSet(/\W/, true)], [8, HEX], [16, HEX], [24, HEX], [33, HEX]],
};

const twilioApiKey = token({
  id: "twilio-api-key",
  description: "Twilio API key SID (SK + 32 lower-case hex)",
  replacement: "[TWILIO_API_KEY]",
  // Triggers are case-insensitive, and "sk" is too common a pair of letters: an anchor, case-sensitive.
  patterns: [{ re: new RegExp(String.raw`\bSK[0-9a-f]{32}${END_ALNUM}`, "g"), anchor: TWILIO_SID_ANCHOR }],
  prefix: 2,
});

const twilioCredential = patternDetector({
  id: "twilio-credential",
  kind: "credential",
  description: "Twilio account SID (AC + 32 hex) or auth token (32 hex) assigned to a twilio key",
  replacement: "[TWILIO_CREDENTIAL]",
  patterns: [triggered(keyed("twilio", `(?:AC|SK)?[0-9a-f]{32}${END_ALNUM}`), ["twilio"])],
  accept: (m) => wordsOfKey(m).includes("twilio") && plausibleTokenBody(m.value.replace(/^(?:AC|SK)/, "")),
});

const mailgunApiKey = patternDetector({
  id: "mailgun-api-key",
  kind: "credential",
  description: "Mailgun private API key (key- + 32 hex) or a 32-8-8 hex key assigned to a mailgun key",
  replacement: "[MAILGUN_API_KEY]",
  patterns: [
    triggered(new RegExp(String.raw`\bkey-[0-9a-f]{32}${END}`, "g"), ["key-"]),
    triggered(keyed("mailgun", `[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}${END}`), ["mailgun"]),
  ],
  accept: (m) => plausibleTokenBody(m.value.replace(/^key-/, "").replace(/-/g, "")) && (m.value.startsWith("key-") || wordsOfKey(m).includes("mailgun")),
});

// ---------------------------------------------------------------------------
// Payments and commerce

const stripeSecretKey = token({
  id: "stripe-secret-key",
  description: "Stripe secret key (sk_live_ / sk_test_)",
  replacement: "[STRIPE_SECRET_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bsk_(?:live|test)_[A-Za-z0-9]{24,247}${END}`, "g"), ["sk_live_", "sk_test_"])],
  prefix: 8,
});

const stripeRestrictedKey = token({
  id: "stripe-restricted-key",
  description: "Stripe restricted key (rk_live_ / rk_test_)",
  replacement: "[STRIPE_RESTRICTED_KEY]",
  patterns: [triggered(new RegExp(String.raw`\brk_(?:live|test)_[A-Za-z0-9]{24,247}${END}`, "g"), ["rk_live_", "rk_test_"])],
  prefix: 8,
});

const stripeWebhookSecret = token({
  id: "stripe-webhook-secret",
  description: "Stripe webhook signing secret (whsec_)",
  replacement: "[STRIPE_WEBHOOK_SECRET]",
  patterns: [triggered(/\bwhsec_[A-Za-z0-9+/]{32,64}={0,2}(?![A-Za-z0-9+/=_-])/g, ["whsec_"])],
  prefix: 6,
});

const shopifyToken = token({
  id: "shopify-token",
  description: "Shopify access token / shared secret (shpat_, shpss_, shpca_, shppa_ + 32 hex)",
  replacement: "[SHOPIFY_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}${END}`, "g"), ["shpat_", "shpss_", "shpca_", "shppa_"])],
  prefix: 6,
});

const squareToken = token({
  id: "square-token",
  description: "Square access token / OAuth secret (sq0atp-, sq0csp-, EAAA…)",
  replacement: "[SQUARE_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\b(?:sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43}|EAAA[A-Za-z0-9_-]{60})${END}`, "g"), ["sq0atp-", "sq0csp-", "EAAA"])],
  prefix: /^(?:sq0[a-z]{3}-|EAAA)/,
});

const braintreeAccessToken = token({
  id: "braintree-access-token",
  description: "PayPal Braintree access token (access_token$production$…$…)",
  replacement: "[BRAINTREE_ACCESS_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\baccess_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}${END_ALNUM}`, "g"), ["access_token$"])],
  prefix: /^access_token\$[a-z]+\$/,
});

// ---------------------------------------------------------------------------
// Observability, infrastructure, misc developer services

/** `datadog…` or `dd` followed by a separator or `api`/`app` (a bare "dd" is far too common a pair of letters). */
const DATADOG_TRIGGERS = ["datadog", "dd_", "dd-", "dd.", "ddapi", "ddapp"];

const datadogApiKey = patternDetector({
  id: "datadog-api-key",
  kind: "credential",
  description: "Datadog API key: 32 hex assigned to DD_API_KEY / datadog_api_key / DD-API-KEY",
  replacement: "[DATADOG_API_KEY]",
  patterns: [triggered(keyed(String.raw`(?:datadog|dd)[_.-]?api[_.-]?key`, `[a-f0-9]{32}${END_ALNUM}`), DATADOG_TRIGGERS)],
  accept: (m) => hasAny(wordsOfKey(m), new Set(["dd", "datadog"])) && plausibleTokenBody(m.value),
});

const datadogAppKey = patternDetector({
  id: "datadog-app-key",
  kind: "credential",
  description: "Datadog application key: 40 hex assigned to DD_APP_KEY / datadog_application_key / DD-APPLICATION-KEY",
  replacement: "[DATADOG_APP_KEY]",
  patterns: [triggered(keyed(String.raw`(?:datadog|dd)[_.-]?app(?:lication)?[_.-]?key`, `[a-f0-9]{40}${END_ALNUM}`), DATADOG_TRIGGERS)],
  accept: (m) => hasAny(wordsOfKey(m), new Set(["dd", "datadog"])) && plausibleTokenBody(m.value),
});

const ageSecretKey = token({
  id: "age-secret-key",
  description: "age X25519 identity (AGE-SECRET-KEY-1…, bech32 checksum verified)",
  replacement: "[AGE_SECRET_KEY]",
  patterns: [triggered(/\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}(?![A-Z0-9])/g, ["AGE-SECRET-KEY-1"])],
  prefix: 16,
  check: bech32Valid,
});

const vaultToken = token({
  id: "vault-token",
  description: "HashiCorp Vault service / batch / recovery token (hvs., hvb., hvr.)",
  replacement: "[VAULT_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bhv[sbr]\.[A-Za-z0-9_-]{24,300}${END}`, "g"), ["hvs.", "hvb.", "hvr."])],
  prefix: 4,
});

const databricksToken = token({
  id: "databricks-token",
  description: "Databricks personal access token (dapi + 32 hex)",
  replacement: "[DATABRICKS_TOKEN]",
  patterns: [triggered(/\bdapi[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9-])/g, ["dapi"])],
  prefix: 4,
});

const grafanaToken = token({
  id: "grafana-token",
  description: "Grafana service account token (glsa_) or Grafana Cloud token (glc_)",
  replacement: "[GRAFANA_TOKEN]",
  patterns: [triggered(/\b(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,3})(?![A-Za-z0-9+/=_-])/g, ["glsa_", "glc_"])],
  prefix: /^gl(?:sa|c)_/,
});

const sentryToken = token({
  id: "sentry-token",
  description: "Sentry user auth token (sntryu_ + 64 hex) or organisation token (sntrys_eyJ…)",
  replacement: "[SENTRY_TOKEN]",
  patterns: [triggered(/\b(?:sntryu_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/]{20,400}={0,2}_[A-Za-z0-9+/]{43})(?![A-Za-z0-9+/=_-])/g, ["sntryu_", "sntrys_"])],
  prefix: 7,
});

const postmanApiKey = token({
  id: "postman-api-key",
  description: "Postman API key (PMAK-<24 hex>-<34 hex>)",
  replacement: "[POSTMAN_API_KEY]",
  patterns: [triggered(new RegExp(String.raw`\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}${END}`, "g"), ["PMAK-"])],
  prefix: 5,
});

const dopplerToken = token({
  id: "doppler-token",
  description: "Doppler personal / service / CLI / service-account token (dp.pt., dp.st., dp.ct., dp.sa.)",
  replacement: "[DOPPLER_TOKEN]",
  patterns: [triggered(new RegExp(String.raw`\bdp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9_.-]{40,90}${END}`, "g"), ["dp."])],
  prefix: /^dp\.[a-z]+\./,
});

// ---------------------------------------------------------------------------
// Structured secrets: JWT, PEM private keys, credentials in URLs and headers

const jwt = token({
  id: "jwt",
  description: "JSON Web Token (three base64url parts; the header must decode to JSON with \"alg\")",
  replacement: "[JWT]",
  patterns: [triggered(new RegExp(String.raw`\beyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}${END}`, "g"), ["eyJ"])],
  prefix: /^[^.]+\./,
  check: jwtHeaderValid,
});

const PEM_TRIGGER = "-----BEGIN ";
const PEM_END_TRIGGER = "-----END ";
registerTriggers([PEM_TRIGGER, PEM_END_TRIGGER]);
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY( BLOCK)?-----/y;
const PEM_BODY_LINE = /^[A-Za-z0-9+/=]{1,100}$/;
const PEM_HEADER_LINE = /^(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\n]{0,200}$/;
/** Lines end in a newline or, in JSON and logs, a literal backslash-n. */
const LINE_BREAK = /\r?\n|\\r\\n|\\n/y;

/** Where the base64 body of a PEM block that has no END line stops (a truncated key is still a key). */
function pemBodyEnd(text: string, from: number): { end: number; base64: number } {
  let pos = from;
  let end = from;
  let base64 = 0;
  for (let lines = 0; lines < 2000; lines += 1) {
    LINE_BREAK.lastIndex = pos;
    const br = LINE_BREAK.exec(text);
    if (br !== null) pos = LINE_BREAK.lastIndex;
    // Find the end of this line: the next real or escaped line break.
    let lineEnd = pos;
    while (lineEnd < text.length && lineEnd - pos <= 200) {
      const c = text.charAt(lineEnd);
      if (c === "\n" || c === "\r" || (c === "\\" && text.charAt(lineEnd + 1) === "n")) break;
      lineEnd += 1;
    }
    const line = text.slice(pos, lineEnd).trim();
    if (line.length === 0) {
      if (br === null) break;
      continue;
    }
    if (PEM_BODY_LINE.test(line)) base64 += line.length;
    else if (!PEM_HEADER_LINE.test(line)) break;
    end = lineEnd;
    pos = lineEnd;
  }
  return { end, base64 };
}

/** PEM private keys of every flavour (PKCS#1 RSA, SEC1 EC, DSA, PKCS#8, encrypted PKCS#8, OpenSSH, PGP), whole block. */
const privateKey: Detector = declareScanNeeds(
  {
    id: "private-key",
    kind: "credential",
    description: "PEM private key block (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP, PKCS#8), BEGIN to END inclusive; a block cut off before END is redacted to the end of its body",
    replacement: "[PRIVATE_KEY]",
    defaultEnabled: true,
    find(text: string): Finding[] {
      const out: Finding[] = [];
      // BEGIN and END lines from the trigger index (case-insensitive there; the markers themselves are upper case).
      const begins = positionsOf(text, [PEM_TRIGGER]).filter((p) => text.startsWith(PEM_TRIGGER, p));
      const ends = positionsOf(text, [PEM_END_TRIGGER]);
      let nextEnd = 0;
      let floor = 0;
      for (let b = 0; b < begins.length; b += 1) {
        const start = begins[b] ?? 0;
        if (start < floor) continue;
        PEM_BEGIN.lastIndex = start;
        const m = PEM_BEGIN.exec(text);
        if (m === null) continue;
        const bodyStart = start + m[0].length;
        const endMarker = `-----END ${m[1] ?? ""}PRIVATE KEY${m[2] ?? ""}-----`;
        // The first END line of the same kind after the body starts, unless another BEGIN comes first (the END then belongs to that block).
        let nextBegin = Infinity;
        for (let c = b + 1; c < begins.length; c += 1) {
          if ((begins[c] ?? 0) >= bodyStart) {
            nextBegin = begins[c] ?? Infinity;
            break;
          }
        }
        while (nextEnd < ends.length && (ends[nextEnd] ?? 0) < bodyStart) nextEnd += 1;
        let endAt = -1;
        for (let e = nextEnd; e < ends.length && (ends[e] ?? 0) < nextBegin; e += 1) {
          if (text.startsWith(endMarker, ends[e])) {
            endAt = ends[e] ?? -1;
            break;
          }
        }
        if (endAt >= 0) {
          const body = text.slice(bodyStart, endAt);
          const base64 = (body.match(/[A-Za-z0-9+/=]{16,}/g) ?? []).reduce((n, run) => n + run.length, 0);
          if (base64 >= 64) {
            floor = endAt + endMarker.length;
            out.push({ detector: "private-key", start, end: floor });
          }
          continue;
        }
        const { end, base64 } = pemBodyEnd(text, bodyStart);
        if (base64 >= 64) {
          out.push({ detector: "private-key", start, end });
          floor = end;
        }
      }
      return out;
    },
  },
  { triggers: true },
);

/** ASCII characters that end a URL's user-info (whitespace and `/?#@"'<>[]{}`), by code. */
const USER_INFO_END = new Uint8Array(128);
for (const c of " \t\n\v\f\r/?#@\"'<>[]{}") USER_INFO_END[c.charCodeAt(0)] = 1;

/**
 * Before the url-password regex runs at a `://` (most are URLs without
 * user-info): a `:` then an `@` follow within the user-info, which ends at
 * whitespace or `/?#"'<>[]{}`. Non-ASCII characters are passed over (the regex
 * stops at non-ASCII spaces; a test that looks further is still a superset).
 */
function userInfoFollows(text: string, start: number): boolean {
  let i = start + 3;
  for (const limit = i + 129; i < limit; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 58) break;
    if (Number.isNaN(c) || (c < 128 && USER_INFO_END[c] === 1)) return false;
  }
  if (text.charCodeAt(i) !== 58) return false;
  for (const limit = i + 258; (i += 1) < limit; ) {
    const c = text.charCodeAt(i);
    if (c === 64) return true;
    if (Number.isNaN(c) || (c < 128 && USER_INFO_END[c] === 1)) return false;
  }
  return false;
}

const urlCredentials = patternDetector({
  id: "url-password",
  kind: "credential",
  description: "Password in a URL's user-info (scheme://user:password@host); only the password is replaced",
  replacement: "[PASSWORD]",
  patterns: [{ re: /:\/\/[^\s:/?#@"'<>[\]{}]{0,128}:([^\s/?#@"'<>[\]{}]{1,256})@(?=[A-Za-z0-9[])/g, triggers: ["://"], check: userInfoFollows }],
  accept: (m) => {
    const v = m.value;
    if (isPlaceholder(v) || /^\d{1,5}$/.test(v)) return false;
    // `cvs://:pserver:user@host` names a protocol, not a password.
    if (m.text.charAt(m.start - 2) === "/" && v.includes(":")) return false;
    const lower = v.toLowerCase();
    return !["pass", "passwd", "pwd", "secret", "xxx", "user", "username"].includes(lower);
  },
});

const bearerToken = patternDetector({
  id: "bearer-token",
  kind: "credential",
  description: "Bearer token in an Authorization header or a curl/HTTP log line",
  replacement: "[BEARER_TOKEN]",
  patterns: [triggered(/\b[Bb]earer[ \t]+([A-Za-z0-9._~+/-]{16,4096}=*)(?![A-Za-z0-9._~+/=-])/g, ["bearer"])],
  accept: (m) => looksRandom(m.value, 16, 2, 3.2),
});

const basicAuthHeader = patternDetector({
  id: "basic-auth-header",
  kind: "credential",
  description: "HTTP Basic credentials (Basic base64(user:password)); must decode to printable user:password",
  replacement: "[BASIC_AUTH]",
  patterns: [triggered(/\bBasic[ \t]+([A-Za-z0-9+/]{8,1024}={0,2})(?![A-Za-z0-9+/=])/g, ["basic"])],
  accept: (m) => {
    const decoded = decodeBase64(m.value)?.toString("utf8");
    if (decoded === undefined || !/^[\x20-\x7e]+$/.test(decoded)) return false;
    const colon = decoded.indexOf(":");
    return colon > 0 && colon < decoded.length - 1 && !isPlaceholder(decoded.slice(colon + 1));
  },
});

// ---------------------------------------------------------------------------
// Context-based: passwords, secrets, and any high-entropy assignment

/** A value: double-, single- or back-quoted, or bare up to whitespace, a quote or `;` (which ends a value in shell lines and connection strings). */
const VALUE = String.raw`"([^"\r\n]{1,1024})"|'([^'\r\n]{1,1024})'|\x60([^\x60\r\n]{1,1024})\x60|([^\s"'\x60;]{1,1024})`;

/**
 * Trims what a bare value picks up from the text around it: `&next=…` in a
 * query string, a closing bracket with no opener in the value (`(pwd: abc)`),
 * a trailing comma; and, in prose ("my password is abc."), sentence
 * punctuation. In `KEY=value` lines a trailing `.` or `!` is part of the value.
 */
function bareValueSpan(m: PatternMatch, prose = false): Span {
  const start = m.start;
  let end = m.end;
  const quoted = /["'\x60]/.test(m.text.charAt(start - 1)) && m.text.charAt(end) === m.text.charAt(start - 1);
  if (quoted) return { start, end };
  const inQuery = /[?&#]/.test(m.text.charAt(m.match.index - 1));
  if (inQuery) {
    const amp = m.text.indexOf("&", start);
    if (amp >= 0 && amp < end) end = amp;
  }
  const openers: Record<string, string> = { ")": "(", "]": "[", "}": "{", ">": "<" };
  for (;;) {
    const last = m.text.charAt(end - 1);
    const opener = openers[last];
    const unbalanced = opener !== undefined && !m.text.slice(start, end - 1).includes(opener);
    if (end > start && (unbalanced || last === "," || last === ":" || (prose && /[.!?]/.test(last)))) end -= 1;
    else break;
  }
  return { start, end };
}

/** Looks like code, not a literal: a call, a subscript, a generic type, an attribute chain. */
function looksLikeCode(v: string): boolean {
  if (/^[A-Za-z_$][\w$.]*\s*[([]/.test(v) || /^(?:=>|->|function\b|lambda\b|new\s)/.test(v)) return true;
  // An attribute chain ending in a name (`config.db.password`, `cstScalar.createScalarToken`), not `bN0g.JRWEJUZm`.
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v) && /^[A-Za-z_$]*[a-z]{3}/.test(v.slice(v.lastIndexOf(".") + 1)) && madeOfWords(v.slice(v.lastIndexOf(".") + 1), false)) return true;
  // Regex source (`([A-Za-z0-9+/]{86}==)`): character ranges, counted repetitions, groups.
  return /\[[^\]]{0,20}[A-Za-z0-9]-[A-Za-z0-9][^\]]{0,20}\]|\{\d+(?:,\d*)?\}|\(\?[:=!<]/.test(v);
}

/** An identifier in camelCase or PascalCase made of words (`userPassword`, `PassphraseSource`): a variable or a type, not a literal. */
function looksLikeIdentifier(v: string): boolean {
  return /^[A-Za-z]+$/.test(v) && /[a-z][A-Z]/.test(v) && madeOfWords(v) && (v.match(/[A-Z]?[a-z]{3,}/g) ?? []).length >= 2;
}

/** Words after the credential word that make the key describe the credential rather than hold it. */
const KEY_METADATA_WORDS = wordSet(
  "hash sha sha1 sha256 sha512 md5 checksum fingerprint hashed digest length len min max policy field label prompt hint reset expiry expires " +
    "expiration expired age file path url uri endpoint regex pattern type required rule rules strength changed updated enabled disabled count " +
    "attempts retries history salt algorithm algo mode manager store helper command cmd env var name id format encoding iterations rounds timeout " +
    "ttl validator input ref arn version prefix header location provider kind scope scopes limit usage used lifetime size index source method " +
    "class selector placeholder",
);

function keyDescribesCredential(words: readonly string[], credentialAt: number): boolean {
  for (let i = credentialAt + 1; i < words.length; i += 1) if (KEY_METADATA_WORDS.has(words[i] ?? "")) return false;
  return true;
}

const PASSWORD_WORDS = new Set(["password", "passwd", "passphrase", "pwd", "pass", "pw"]);
const PASSWORD_TRIGGERS = ["pass", "pwd"];
/** An XML match starts at `<`, up to this far before the keyword (namespace prefix, name prefix). */
const XML_BACK = backTo("<", 84);
/** `<qualifier>_key` names that hold a credential (`access_key`, `signing_key`, `client_key`…). */
const SECRET_KEY_QUALIFIERS = "access|private|signing|encryption|master|session|license|app|service|account|auth|client|shared|hmac|webhook|admin|root|cookie";
/** `secret`, `token`, `bearer`, `credential`, and `key`, from which `secretStart` steps back to the qualifier (so "app" or "account" alone never trigger a look). */
const SECRET_TRIGGERS = ["secret", "token", "bearer", "credential", "key"];
/** For a `key` trigger, the match starts at its qualifier (`access_key`, `apiKey`); for the others, at the trigger. */
function secretStart(text: string, p: number): readonly number[] {
  // A trigger sits at p, so the characters there are ASCII: compare lower-cased codes.
  const lower = (i: number): number => text.charCodeAt(i) | 0x20;
  if (lower(p) !== 107 || lower(p + 1) !== 101 || lower(p + 2) !== 121) return [p];
  let q = p;
  const before = text.charCodeAt(q - 1);
  if (q > 0 && (before === 95 || before === 46 || before === 45)) q -= 1;
  const end = q;
  while (q > 0 && end - q < 12 && isLetterCode(text.charCodeAt(q - 1))) q -= 1;
  return q < end ? [q] : [];
}

/** `<password>value</password>`-style XML elements (Maven settings.xml, Tomcat users, many Java configs): group 1 is the element name, group 2 the value. */
function xmlElement(names: string): RegExp {
  return new RegExp(String.raw`<(?:[\w.-]{1,40}:)?([\w.-]{0,40}?(?:${names})[\w.-]{0,24})(?:\s[^<>]{0,80})?>([^<\s]{1,256})</`, "gi");
}

/** The key a value belongs to: the XML element name, or the identifier before the assignment. */
function keyWords(m: PatternMatch): string[] {
  if (m.match[0].startsWith("<")) return identifierWords(m.match[1] ?? "");
  return identifierWords(assignmentKey(m.text, m.match.index, m.start));
}

/** Value span: for XML the element text (group 2), otherwise the assignment value (trimmed of trailing punctuation); `code` tells whether it is code rather than a literal (computed when asked: it costs several regex tests). */
function valueOf(m: PatternMatch, prose = false): { span: Span; value: string; raw: string; code: () => boolean } {
  if (m.match[0].startsWith("<")) {
    const g = m.match.indices?.[2];
    const v = m.match[2] ?? "";
    const span = g === undefined ? { start: m.start, end: m.end } : { start: g[0], end: g[1] };
    return { span, value: v, raw: v, code: () => false };
  }
  const span = bareValueSpan(m, prose);
  const value = m.text.slice(span.start, span.end);
  const quoted = /["'\x60]/.test(m.text.charAt(m.start - 1));
  return { span, value, raw: m.value, code: () => looksLikeCode(value) || (!quoted && looksLikeBareExpression(value)) };
}

/** An unquoted value that is an expression: `!!flag`, `(a && b`, `[x]`, `{…}`, a generic type `ts.Token<Kind>`, `await f`. */
function looksLikeBareExpression(v: string): boolean {
  // `!flag`, `!!node.token` (a password may start with "!" too, but then it is rarely a plain identifier without digits).
  if (/^!+[A-Za-z_$][\w$.]*$/.test(v) && !/\d/.test(v)) return true;
  return /^[([{]|^(?:&&|\|\|)/.test(v) || /[\w.]<(?:[\w'"]|$)/.test(v) || /^(?:true|false|null|nil|None|undefined|void|typeof|await|new|yield)\b/.test(v);
}

const passwordAssignment = patternDetector({
  id: "password-assignment",
  kind: "credential",
  description: "Value assigned to a password key (password=, passwd:, DB_PASSWORD=, --password, \"password is …\") that is not a placeholder, a variable or code, and is varied enough",
  replacement: "[PASSWORD]",
  patterns: [
    triggered(
      new RegExp(String.raw`(?:pass(?:word|wd|phrase)?|pwd)[A-Za-z0-9_.-]{0,24}(?:["']?[ \t]{0,4}(?::=|=>|->|[:=])[ \t]{0,4}|[ \t]{1,4}is[ \t]{1,4}:?[ \t]{0,4}|[ \t]{1,4})(?:${VALUE})`, "gi"),
      PASSWORD_TRIGGERS,
    ),
    triggered(xmlElement("pass(?:word|wd|phrase)?|pwd"), PASSWORD_TRIGGERS, XML_BACK),
  ],
  accept: (m) => {
    const words = keyWords(m);
    const at = words.findIndex((w) => PASSWORD_WORDS.has(w));
    if (at < 0 || !keyDescribesCredential(words, at)) return false;
    const between = m.text.slice(m.match.index, m.start);
    const strong = m.match[0].startsWith("<") || (/[:=>]/.test(between) && !/\bis\b/i.test(between));
    if (!strong) {
      // Prose: "pass --flag" and "pw" are verbs and abbreviations; a bare key after `=` or `:` is itself a value (`-field=password x`).
      if (!words.some((w) => w === "password" || w === "passwd" || w === "passphrase" || w === "pwd")) return false;
      if (/[=:]["']?\s*$/.test(m.text.slice(Math.max(0, m.match.index - 3), m.match.index))) return false;
      // A file name (`/etc/passwd is …`, `.pwd`), not a key.
      const keyStart = identifierStart(m.text, m.match.index);
      if (/[/\\]/.test(m.text.charAt(keyStart - 1)) || m.text.charAt(keyStart) === "." || /^[/~.]/.test(m.value)) return false;
    }
    const { span, value: v, raw, code } = valueOf(m, !strong);
    if (isPlaceholder(v) || isPlaceholder(raw) || code() || looksLikeIdentifier(v)) return false;
    // A sentence about the password ("Password used to generate key"), not the password.
    if (/\s/.test(v) && /\b(?:pass(?:word|phrase)?|secret|key|token)\b/i.test(v)) return false;
    if ((!strong && v.startsWith("-")) || v.startsWith("/")) return false;
    const classes = textStats(v);
    const h = classes.entropy;
    if (strong) {
      if (v.length < 6) return false;
      if (!((classes.count >= 2 && h >= 2.0) || (v.length >= 12 && h >= 3.0))) return false;
    } else {
      // "password is …", "--password …": prose is full of these, so ask for a password-looking value.
      if (v.length < 8 || classes.count < 2 || h < 2.5) return false;
      if (!(classes.digit || classes.other || (v.length >= 12 && h >= 3.3))) return false;
    }
    return span;
  },
});

const SECRET_WORDS = new Set(["secret", "secrets", "token", "apikey", "credential", "credentials", "pat", "bearer"]);
/** `<word>_key` names a credential only with one of these before it. */
const KEY_QUALIFIERS = wordSet(
  "api access private secret signing encryption master session license app service account auth client shared hmac webhook x admin root cookie",
);
/** Words before the credential word that make it something else: public keys, pagination and LLM token counts. */
const NOT_SECRET_QUALIFIERS = new Set(["public", "publishable", "page", "next", "prev", "continuation", "cursor", "sync", "csrf", "xsrf", "max", "input", "output", "total", "completion", "prompt", "num", "cache", "reasoning"]);

function secretWordIndex(words: readonly string[]): number {
  for (let i = 0; i < words.length; i += 1) {
    const w = words[i] ?? "";
    if (SECRET_WORDS.has(w)) return i;
    if (w === "key" && i > 0 && KEY_QUALIFIERS.has(words[i - 1] ?? "")) return i;
  }
  return -1;
}

const secretAssignment = patternDetector({
  id: "secret-assignment",
  kind: "credential",
  description: "Random-looking value (≥ 12 characters, mixed classes, entropy) assigned to a secret/token/api_key/access_key/private_key/client_secret/credentials key",
  replacement: "[SECRET]",
  patterns: [
    triggered(
      new RegExp(String.raw`(?:secret|token|bearer|api[_.-]?key|apikey|credentials?|(?:${SECRET_KEY_QUALIFIERS})[_.-]?key)[A-Za-z0-9_.-]{0,24}["']?[ \t]{0,4}(?::=|=>|->|[:=])[ \t]{0,4}(?:${VALUE})`, "gi"),
      SECRET_TRIGGERS,
      secretStart,
    ),
    triggered(xmlElement(`secret|token|api[_.-]?key|apikey|credentials?|(?:${SECRET_KEY_QUALIFIERS})[_.-]?key`), SECRET_TRIGGERS, XML_BACK),
  ],
  accept: (m) => {
    const words = keyWords(m);
    const at = secretWordIndex(words);
    if (at < 0 || !keyDescribesCredential(words, at)) return false;
    for (let i = 0; i < at; i += 1) if (NOT_SECRET_QUALIFIERS.has(words[i] ?? "")) return false;
    const { span, value: v, raw, code } = valueOf(m);
    if (/\s/.test(v) || isPlaceholder(raw) || code() || madeOfWords(v)) return false;
    // The key already says "secret": a modest entropy bar (16 hex digits average about 3.4 bits, and often dip below 3).
    return looksRandom(v, 12, 2, 2.5) ? span : false;
  },
});

/** Keys whose values are random by nature but not secret: ids, digests, versions, cursors, content. */
const NON_SECRET_KEY_WORDS = wordSet(
  "id ids uuid guid sha sha1 sha256 sha384 sha512 md5 hash digest checksum integrity etag commit rev revision version build ref oid fingerprint " +
    "thumbprint cursor page next continuation nonce request trace span correlation image img data src href url uri path file filename name title " +
    "class style pattern regex d points transform font icon avatar thumbnail locale lang type mime content body payload blob raw encoded base64 " +
    "b64 attachment chunk buffer bytes http https ftp ws wss git ssh s3 gs public pub cid msgid message thread channel user username email slug " +
    "tag label sku address wallet tx txid block hostname host domain kid x5t csrf xsrf publishable sync",
);

/** `lldb/third_party/Python/module/unittest2`: three or more segments, at least half of them words. */
function looksLikePath(v: string): boolean {
  // Three segments need two slashes.
  const slash = v.indexOf("/");
  if (slash < 0 || v.indexOf("/", slash + 1) < 0) return false;
  const segments = v.split("/").filter((x) => x.length > 0);
  return segments.length >= 3 && segments.filter((x) => /[A-Za-z]{2}/.test(x) && madeOfWords(x, false)).length * 2 >= segments.length;
}

/** Short words and vowel-less abbreviations that appear in identifiers and paths (`isTokenOnSameLine`, `src/lib`, `llvm`). */
const SHORT_WORDS = new Set(
  "is on to of in by at id no up ok db io ui os as an or if it be do go my me we us vs rt js ts py rs md fs vm gc src bin usr tmp pkg cmd cfg dst std lldb llvm gcc npm ssh ssl tls http https www xml html css sql rpc grpc crt dns tcp udp cpp hpp mysql pgsql".split(" "),
);

/**
 * Whether a value is built from words rather than drawn at random:
 * `ReadWriteOnce2`, `com.example.Handler2Impl`, `GPL-3+-autoconf-exception`,
 * `GITHUB_TOKEN`. Split at separators and case changes, every piece must be a
 * word (3+ letters with a vowel, or a common short word or abbreviation),
 * an acronym of 2–5 capitals (or a lone capital as an initial or before a
 * version number), or a number of up to 4 digits; and (unless `mostlyLong` is
 * off, for path segments) words of 4+ letters must make up half the value. A
 * random 24-character base62 string passes with probability about 2 in
 * 10,000 (measured), a 12-character one about 1 in 150.
 */
export function madeOfWords(v: string, mostlyLong = true): boolean {
  let separated = false;
  for (let i = 0; i < v.length && !separated; i += 1) separated = isPartSeparator(v.charCodeAt(i));
  if (separated && /^[A-Z_]+$/.test(v)) return true;
  let long = 0;
  // Parts between separators; within each, pieces as /[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9]+/g would cut
  // them, taken one at a time so that a random value is rejected at its first piece.
  for (let i = 0; i < v.length; ) {
    if (isPartSeparator(v.charCodeAt(i))) {
      i += 1;
      continue;
    }
    let partEnd = i;
    while (partEnd < v.length && !isPartSeparator(v.charCodeAt(partEnd))) partEnd += 1;
    if (separated && runEnd(v, i, partEnd, isUpperCode) === partEnd) {
      if (partEnd - i >= 4) long += partEnd - i;
      i = partEnd;
      continue;
    }
    for (let a = i; a < partEnd; ) {
      const b = pieceEnd(v, a, partEnd);
      const length = b - a;
      const first = v.charCodeAt(a);
      const capitals = isUpperCode(first) && runEnd(v, a, b, isUpperCode) === b;
      if (isDigitCode(first)) {
        // A number of up to 4 digits.
        if (length > 4) return false;
      } else if (capitals && length >= 2 && length <= 5) {
        // An acronym.
      } else if (capitals && length === 1) {
        // A lone capital: an initial (`Aaron-D-Gifford`) or a version (`SchemaV1`).
        if (!((a === i && b === partEnd) || (b < partEnd && isDigitCode(v.charCodeAt(b))))) return false;
      } else {
        if (runEnd(v, a, b, isLetterCode) !== b) return false;
        const piece = v.slice(a, b);
        if (!SHORT_WORDS.has(piece.toLowerCase()) && (length < 3 || !/[aeiouy]/i.test(piece))) return false;
        if (length >= 4) long += length;
      }
      a = b;
    }
    i = partEnd;
  }
  if (!mostlyLong) return true;
  let alphanumeric = 0;
  for (let i = 0; i < v.length; i += 1) if (isLetterCode(v.charCodeAt(i)) || isDigitCode(v.charCodeAt(i))) alphanumeric += 1;
  return long * 2 >= alphanumeric;
}

/** `[_.\-/|,;:+~*?]`: what splits a value into parts for madeOfWords. */
function isPartSeparator(c: number): boolean {
  return c === 95 || c === 46 || c === 45 || c === 47 || c === 124 || c === 44 || c === 59 || c === 58 || c === 43 || c === 126 || c === 42 || c === 63;
}

const isUpperCode = (c: number): boolean => c >= 65 && c <= 90;
const isLowerCode = (c: number): boolean => c >= 97 && c <= 122;
const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;
const isLetterCode = (c: number): boolean => isUpperCode(c) || isLowerCode(c);

/** Where the run of characters satisfying `test` that starts at `from` ends (at most at `end`). */
function runEnd(v: string, from: number, end: number, test: (c: number) => boolean): number {
  let i = from;
  while (i < end && test(v.charCodeAt(i))) i += 1;
  return i;
}

/** The end of the piece starting at `a` in the part ending at `end`: the match of /[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9]+/ there. */
function pieceEnd(v: string, a: number, end: number): number {
  const c = v.charCodeAt(a);
  if (isUpperCode(c)) {
    if (a + 1 < end && isLowerCode(v.charCodeAt(a + 1))) return runEnd(v, a + 1, end, isLowerCode);
    const e = runEnd(v, a, end, isUpperCode);
    // [A-Z]+ gives back its last capital when a lower-case letter follows: that capital starts the next word.
    return e < end && isLowerCode(v.charCodeAt(e)) ? e - 1 : e;
  }
  if (isLowerCode(c)) return runEnd(v, a, end, isLowerCode);
  if (isDigitCode(c)) return runEnd(v, a, end, isDigitCode);
  return runEnd(v, a, end, (x) => !isLetterCode(x) && !isDigitCode(x));
}

/**
 * A separator, then 24–200 value characters that include an upper-case letter
 * and a digit or a base64 `+`, `/`, `=` (two bounded lookaheads: JSON and logs are full of long
 * lower-case hex digests, UUIDs and URLs, and rejecting those inside the regex
 * is far cheaper than building a match for each). No capture group on
 * purpose: the `d` flag would allocate indices for every match.
 */
const GENERIC_ASSIGNMENT =
  /(?::=|=>|[:=])[ \t]{0,4}["'\x60]?(?=[A-Za-z0-9+/_.~-]{0,200}[A-Z])(?=[A-Za-z0-9+/_.~-]{0,200}[0-9+/=])[A-Za-z0-9+/_.~-]{24,200}={0,2}(?![A-Za-z0-9+/=_.~%-])/g;
const GENERIC_LEAD = /^(?::=|=>|[:=])[ \t]*["'\x60]?/;
const VALUE_CHAR = charSet(/[A-Za-z0-9+/_.~-]/, false);
const UPPER = charSet(/[A-Z]/, false);
/**
 * Where GENERIC_ASSIGNMENT can start: `:` or `=`, and value characters at
 * offsets 8 to 24 (the value starts at most 7 characters after the
 * separator and is at least 24 long). And the capital letter the regex
 * requires: the value starts at offset 1 at the earliest, so either a capital
 * sits at offsets 1 to 47, or the value runs on through offset 48. This last
 * condition is what turns away the hex digests and UUIDs that fill JSON and
 * logs.
 */
const ASSIGNMENT_ANCHOR: Anchor = {
  id: "generic-assignment",
  at: [
    [0, oneOf(":=")],
    // Every offset from 8 to 24: three cheap single tests weed out most places first.
    [8, VALUE_CHAR],
    [16, VALUE_CHAR],
    [24, VALUE_CHAR],
    every(9, 23, VALUE_CHAR),
    { anyOf: [some(1, 47, UPPER), every(25, 48, VALUE_CHAR)] },
  ],
};

/**
 * GENERIC_ASSIGNMENT's lookaheads and value in one pass, before the regex
 * runs (most anchors are URLs and digests that fail only at the lookaheads):
 * after the separator, at most four spaces or tabs and a quote, a run of at
 * least 24 value characters with a capital and a digit or `+`, `/`, `=`.
 */
function genericValueFollows(text: string, start: number): boolean {
  let i = start + 1;
  const c0 = text.charCodeAt(start);
  const c1 = text.charCodeAt(i);
  if ((c0 === 58 && c1 === 61) || (c0 === 61 && c1 === 62)) i += 1;
  for (let spaces = 0; spaces < 4 && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9); spaces += 1) i += 1;
  const quote = text.charCodeAt(i);
  if (quote === 34 || quote === 39 || quote === 96) i += 1;
  let capital = false;
  let digit = false;
  const from = i;
  for (let c = text.charCodeAt(i); isValueCode(c); c = text.charCodeAt(i)) {
    if (c >= 65 && c <= 90) capital = true;
    else if ((c >= 48 && c <= 57) || c === 43 || c === 47) digit = true;
    i += 1;
  }
  return i - from >= 24 && capital && (digit || text.charCodeAt(i) === 61);
}

/** `[A-Za-z0-9+/_.~-]`. */
function isValueCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 47 && c <= 57) || c === 43 || c === 95 || c === 46 || c === 126 || c === 45;
}

const genericHighEntropy = patternDetector({
  id: "generic-high-entropy-assignment",
  kind: "credential",
  description: "Any key assigned a long (24–200), random-looking value (upper, lower, digits or base64 symbols; high entropy; not words, paths or code), unless the key names an id, hash, version, cursor or content",
  replacement: "[HIGH_ENTROPY_SECRET]",
  patterns: [{ re: GENERIC_ASSIGNMENT, anchor: ASSIGNMENT_ANCHOR, check: genericValueFollows }],
  // Cheapest tests first: most separators in JSON and logs are followed by hex digests, UUIDs, URLs and words.
  accept: (m) => {
    const lead = GENERIC_LEAD.exec(m.value)?.[0].length ?? 0;
    const v = m.value.slice(lead);
    const stats = textStats(v);
    if (!(stats.lower && stats.upper && (stats.digit || /[+/=]/.test(v)))) return false;
    // Paths; C++ mangled symbols in stack traces (`_ZN4node…`).
    if (v.startsWith("./") || v.startsWith("~") || v.startsWith("_Z")) return false;
    if (/\.[A-Za-z]{1,5}$/.test(v) && /[/.]/.test(v.slice(0, -1))) return false;
    if (stats.entropy < Math.min(4.0, Math.log2(v.length) - 0.9) || stats.stepRatio >= 0.45) return false;
    // Identifiers, dotted names, file names, paths: words, not noise. Code: attribute chains, calls.
    if (madeOfWords(v) || looksLikePath(v) || isPlaceholder(v) || looksLikeCode(v) || m.text.charAt(m.end) === "(") return false;
    // The key: skip back over spaces and a closing quote, then the identifier.
    let i = m.match.index;
    while (i > 0 && /[ \t"']/.test(m.text.charAt(i - 1))) i -= 1;
    const key = m.text.slice(identifierStart(m.text, i), i);
    if (!/^[A-Za-z_-]/.test(key)) return false;
    const words = identifierWords(key);
    if (words.length === 0 || hasAny(words, NON_SECRET_KEY_WORDS) || /pubkey|public/i.test(key)) return false;
    return { start: m.start + lead, end: m.end };
  },
});

/** Every credential detector, specific ones first (they win ties against the generic ones). */
export const CREDENTIAL_DETECTORS: readonly Detector[] = [
  privateKey,
  jwt,
  awsAccessKeyId,
  awsSecretAccessKey,
  githubPat,
  githubFineGrainedPat,
  githubOauthToken,
  githubAppToken,
  githubRefreshToken,
  gitlabPat,
  gitlabOtherToken,
  slackBotToken,
  slackUserToken,
  slackAppToken,
  slackWebhookUrl,
  stripeSecretKey,
  stripeRestrictedKey,
  stripeWebhookSecret,
  anthropicApiKey,
  openaiApiKey,
  googleApiKey,
  googleOauthClientSecret,
  npmToken,
  pypiToken,
  dockerHubPat,
  huggingfaceToken,
  sendgridApiKey,
  twilioApiKey,
  twilioCredential,
  mailgunApiKey,
  shopifyToken,
  discordBotToken,
  discordWebhookUrl,
  telegramBotToken,
  azureStorageAccountKey,
  azureSharedAccessKey,
  azureSasSignature,
  herokuApiKey,
  digitaloceanToken,
  linearApiKey,
  notionToken,
  atlassianApiToken,
  squareToken,
  braintreeAccessToken,
  datadogApiKey,
  datadogAppKey,
  ageSecretKey,
  vaultToken,
  databricksToken,
  grafanaToken,
  sentryToken,
  postmanApiKey,
  dopplerToken,
  urlCredentials,
  basicAuthHeader,
  bearerToken,
  passwordAssignment,
  secretAssignment,
  genericHighEntropy,
];
