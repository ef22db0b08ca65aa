import type { BackupState } from './types.ts';

/** The API answered with an error status; `code` and `message` are the server's. */
export class FleetBackupApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'FleetBackupApiError';
    this.status = status;
    this.code = code;
  }
}

/** The backup failed, or can otherwise never become safe without an operator: do not start the change. */
export class BackupNotSafeError extends Error {
  readonly backup: BackupState;
  constructor(backup: BackupState) {
    super(
      `backup ${backup.id} (${backup.host}/${backup.key}) is ${backup.status} and will not become safe: ${backup.safety.reason}`,
    );
    this.name = 'BackupNotSafeError';
    this.backup = backup;
  }
}

/** waitUntilSafe ran out of time; `backup` is the last state seen (null if it never appeared). */
export class WaitTimeoutError extends Error {
  readonly backup: BackupState | null;
  constructor(id: string, timeoutMs: number, backup: BackupState | null, lastError: unknown) {
    const state = backup
      ? `still not safe: ${backup.safety.reason}`
      : `not found${lastError instanceof Error ? ` (${lastError.message})` : ''}`;
    super(`backup ${id} after ${Math.round(timeoutMs / 1000)}s: ${state}`);
    this.name = 'WaitTimeoutError';
    this.backup = backup;
  }
}
