import type { GeneratedItem } from '@fleet-backup/core';

/**
 * Generated items sit at the top of the backup, beside the host's own absolute paths, and are
 * stored under their own names (libs/core GENERATED_ITEMS): `environment.config`,
 * `environment.secrets.config` and `dependencies.config`. A host file with one of these paths (a
 * file named so in `/`) is refused rather than silently shadowed.
 */
export const GENERATED = {
  environment: '/environment.config',
  environmentSecrets: '/environment.secrets.config',
  dependencies: '/dependencies.config',
} as const satisfies Record<string, `/${GeneratedItem}`>;
