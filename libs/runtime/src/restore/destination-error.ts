import { PermanentFailure } from '@fleet-backup/core';

/**
 * The restore directory refused a write (full, read-only, no permission): another copy would
 * fail the same way, so the restore stops here, naming the path and what to do.
 */
export class RestoreDestinationError extends PermanentFailure {}

const HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space, or restore elsewhere',
  EDQUOT: 'the disk quota is used up: free space, or restore elsewhere',
  EROFS: 'the filesystem is read-only: restore elsewhere',
  EACCES: 'permission denied: check the permissions on the way there, or restore elsewhere',
  EPERM: 'operation not permitted: check the permissions on the way there, or restore elsewhere',
  ENAMETOOLONG: 'the name is too long for this filesystem',
  EMLINK: 'the directory holds as many entries as the filesystem allows',
};

/** The error as a RestoreDestinationError naming `display` (not the /proc path it was reached by), or as it was. */
export function destinationError(err: unknown, what: string, display: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code ? HINTS[code] : undefined;
  if (!hint) return err;
  return new RestoreDestinationError(`cannot ${what} ${display}: ${code}, ${hint}`, { path: display, code });
}
