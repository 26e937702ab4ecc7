/**
 * Secrets: the encrypted store (a SOPS file encrypted with age) and the
 * profile's age identity. The SOPS format itself is `./sops/index.ts`.
 */
export {
  MAX_SECRET_BYTES,
  SECRET_NAME_PATTERN,
  STORE_FORMAT_VERSION,
  STORE_META_KEY,
  SecretStore,
  assertSecretName,
  parseDotenv,
  type DotenvEntry,
  type DotenvProblem,
  type ImportEntry,
  type ImportResult,
  type InitSecretsOptions,
  type InitSecretsReport,
  type ParsedDotenv,
  type RotateOptions,
  type RotateReport,
  type SecretInfo,
  type SecretStoreOptions,
} from "./store.ts";
export { REDACTED, Secret, isSecret } from "./secret.ts";
export { StoreSecretBroker, isMemoryFileSystem, type SecretDeclaration, type SecretDelivery, type SecretGrants, type SecretSource, type SkillSecretDeclarations } from "./broker.ts";
export {
  assertPrivateFile,
  createIdentityFile,
  formatIdentityFile,
  generateIdentity,
  isEncryptedIdentityText,
  loadIdentityFile,
  loadProfileIdentities,
  nodeFileOps,
  oldIdentityPath,
  writePrivateFileAtomic,
  writePrivateFileNew,
  type LoadedIdentity,
  type NewIdentity,
  type NewIdentityOptions,
  type PassphraseSource,
  type PrivateFileOps,
  type ProfileIdentities,
} from "./identity.ts";
