/**
 * SOPS files encrypted with age: our implementation of the getsops/sops format
 * (values AES-256-GCM under a data key, AAD = key path, SHA-512 MAC bound to
 * lastmodified), checked against real sops files in the conformance tests.
 */
export * from "./file.ts";
export * from "./age.ts";
export * from "./metadata.ts";
export {
  DEFAULT_UNENCRYPTED_SUFFIX,
  aadForPath,
  compileRules,
  mapLeaves,
  plainToTree,
  shouldBeEncrypted,
  treeToPlain,
  comment as sopsComment,
  entry as sopsEntry,
  list as sopsList,
  map as sopsMap,
  str as sopsStr,
  type CommentsStack,
  type CompiledRules,
  type EncryptionRules,
  type LeafVisitor,
  type PlainObject,
  type PlainValue,
  type SopsComment,
  type SopsList,
  type SopsMap,
  type SopsMapEntry,
  type SopsNode,
  type SopsScalar,
} from "./tree.ts";
export * from "./crypt.ts";
export { MacHasher, decryptMac, encryptMac, macsEqual, verifyMac } from "./mac.ts";
export {
  SOPS_DATA_KEY_BYTES,
  SOPS_IV_BYTES,
  decryptValue,
  encryptValue,
  formatGoFloat,
  looksEncrypted,
  openValue,
  parseEncryptedValue,
  scalarPlaintext,
  type EncryptedValueParts,
  type SopsValueType,
} from "./cipher.ts";
export { emitPlainYaml, emitYamlSopsFile, loadPlainYaml, loadYamlSopsFile } from "./yaml.ts";
export { emitJsonSopsFile, emitPlainJson, loadJsonSopsFile, loadPlainJson } from "./json.ts";
export { loadDotenvSopsFile, loadPlainDotenv } from "./dotenv.ts";
export { loadIniSopsFile, loadPlainIni } from "./ini.ts";
export { BINARY_DATA_KEY, binaryBranch, emitBinarySopsFile, loadBinarySopsFile } from "./binary.ts";
