import type { FoundFile } from '@fleet-backup/capture';
import type { Logger } from '@fleet-backup/config';

/**
 * Without an encryption key a sensitive file is not copied at all (libs/capture/src/take-or-skip.ts
 * records it as skipped, so `show`, `plan` and `report` name it); this says so loudly in the agent's
 * log, by path only.
 */
export function warnSensitiveSkipped(file: FoundFile, keyId: string | null, log: Logger): void {
  if (!file.sensitive || keyId !== null) return;
  log.warn(
    { path: file.path },
    'SENSITIVE FILE SKIPPED: no encryption key configured, so it is not backed up at all; set ENCRYPTION_KEY',
  );
}
