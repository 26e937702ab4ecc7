/**
 * Which secret names the store holds, found without ever asking for a
 * passphrase: listing skills must not prompt. When the store is absent, the
 * identity is passphrase-protected (or an identity rotation left an
 * encrypted old one), or the store does not open, the answer is "unknown"
 * with the reason, and skills that need secrets show as unknown rather than
 * inactive. Values are decrypted by the store to verify its MAC and dropped
 * at once; only names leave this function.
 */
import { readFileSync } from "node:fs";
import type { ProfilePaths } from "../config/paths.ts";
import { errorMessage } from "../errors.ts";
import { existsQuiet, isEncryptedIdentityText, loadProfileIdentities, oldIdentityPath } from "../secrets/identity.ts";
import { SecretStore } from "../secrets/store.ts";
import type { SecretNames } from "./eligibility.ts";

function encrypted(path: string): boolean {
  try {
    return isEncryptedIdentityText(readFileSync(path, "utf8"));
  } catch {
    return false;
  }
}

export async function readSecretNamesWithoutPrompt(paths: ProfilePaths): Promise<SecretNames> {
  if (!existsQuiet(paths.secretsFile)) return { known: false, reason: `there is no secret store (${paths.secretsFile}); create it with aegisclaw secrets init` };
  if (!existsQuiet(paths.ageIdentity)) return { known: false, reason: `the age identity ${paths.ageIdentity} is missing, so the secret store cannot be opened` };
  if (encrypted(paths.ageIdentity) || (existsQuiet(oldIdentityPath(paths)) && encrypted(oldIdentityPath(paths)))) {
    return { known: false, reason: "the secret store's identity is passphrase-protected and listing skills never prompts (aegisclaw secrets list shows the names)" };
  }
  try {
    const { identities } = await loadProfileIdentities(paths);
    const store = await SecretStore.open(paths, identities);
    try {
      return { known: true, names: new Set(store.names()) };
    } finally {
      store.close();
    }
  } catch (err) {
    return { known: false, reason: `the secret store could not be opened (${errorMessage(err).split("\n")[0] ?? ""})` };
  }
}
