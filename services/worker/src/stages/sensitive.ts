import type { Logger } from '@fleet-backup/config';
import { type Keyring, SENSITIVE_SKIP_REASON } from '@fleet-backup/core';
import type { FoundFile, SkippedItem } from '../fs/walk.ts';

/**
 * Without an encryption key a sensitive file is not copied at all: it is recorded as skipped (so
 * `show`, `plan` and `report` name it) and warned about loudly, by path only. Returns true when
 * the file was skipped.
 */
export function skipSensitiveWithoutKey(
  file: FoundFile,
  keyring: Keyring,
  skipped: SkippedItem[],
  log: Logger,
): boolean {
  if (!file.sensitive || keyring.currentId !== null) return false;
  skipped.push({ path: file.path, reason: SENSITIVE_SKIP_REASON });
  log.warn(
    { path: file.path },
    'SENSITIVE FILE SKIPPED: no encryption key configured, so it is not backed up at all; set ENCRYPTION_KEY',
  );
  return true;
}
