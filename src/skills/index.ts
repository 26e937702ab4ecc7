/**
 * Skills: OpenClaw SKILL.md folders loaded from four tiers (workspace,
 * workspace/.agents, the profile's managed skills, bundled), their declared
 * requirements mapped to scopes and secrets, and whether each can be active.
 */
export {
  MAX_SKILLS_PER_TIER,
  SKILL_TIERS,
  SkillCatalog,
  foldSkillName,
  loadSkillCatalog,
  readSkillFile,
  type LoadSkillCatalogOptions,
  type LoadedSkill,
  type ShadowedSkill,
  type SkillPlace,
  type SkillProblem,
  type SkillRoot,
  type SkillTier,
} from "./catalog.ts";
export { findOnPath, skillStatus, type EligibilityContext, type SecretNames, type SkillStatus, type SkillStatusKind, type SkillStatusReason } from "./eligibility.ts";
export { skillGrant, type GrantContext, type SkillGrant, type SkillMount } from "./grant.ts";
export { policySnippet } from "./policy-snippet.ts";
export { readSecretNamesWithoutPrompt } from "./secret-names.ts";
export { configHas, loadSkillSettings, skillSettingsPath, type SkillSettings } from "./settings.ts";
export {
  INSTALL_KINDS,
  MAX_FRONTMATTER_BYTES,
  MAX_SKILL_MD_BYTES,
  SKILL_NAME_PATTERN,
  parseSkillMd,
  splitSkillMd,
  type InstallKind,
  type SkillAegisExtension,
  type SkillInstallSpec,
  type SkillManifest,
  type SkillRequirements,
  type SkillRisk,
  type SplitSkillMd,
} from "./skill-md.ts";
