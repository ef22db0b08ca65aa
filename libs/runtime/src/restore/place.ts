import { randomBytes } from 'node:crypto';
import { link, lstat, rename, unlink } from 'node:fs/promises';
import { BadInputError } from '@fleet-backup/core';
import { destinationError } from './destination-error.ts';
import { inDir, PathInTheWay } from './dir-tree.ts';

/** A file or symlink already at a name the restore would write, without --force. */
export class AlreadyExists extends BadInputError {}

/**
 * A short temporary name, never derived from the final one: a 255-byte name leaves no room for
 * a suffix. Entries are written under it in their final directory, then renamed: a reader sees
 * the old file or the new one, never half of one.
 */
export function tempName(): string {
  // A random prefix per process and a counter: unique within a run, and one random draw, not 20,000.
  return `.fbr-${PROCESS_PREFIX}${(nextTemp++).toString(36)}`;
}

const PROCESS_PREFIX = randomBytes(4).toString('hex');
let nextTemp = 0;

/**
 * Moves a finished temporary entry onto its final name in the same directory (one filesystem,
 * so never EXDEV). With `force`, rename replaces a file or a symlink itself (never what a
 * symlink points to), and a process holding the old file open keeps reading the old bytes.
 * Without it, link() refuses to replace anything, atomically; where the filesystem has no
 * hardlinks, a check then a rename.
 */
export async function placeEntry(
  dirFd: number,
  temp: string,
  name: Buffer,
  opts: { force: boolean; display: string },
): Promise<void> {
  const from = inDir(dirFd, temp);
  const to = inDir(dirFd, name);
  if (opts.force) {
    await rename(from, to).catch((err: unknown) => {
      throw destinationError(directoryInTheWay(err, opts.display), 'rename into', opts.display);
    });
    return;
  }
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw alreadyExists(opts.display);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK')
      throw destinationError(err, 'link into', opts.display);
    if (
      await lstat(to).then(
        () => true,
        () => false,
      )
    )
      throw alreadyExists(opts.display);
    await rename(from, to);
    return;
  }
  await unlink(from);
}

export function alreadyExists(display: string): AlreadyExists {
  return new AlreadyExists(`${display} already exists; use --force to overwrite`, { path: display });
}

function directoryInTheWay(err: unknown, display: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST') return err;
  return new PathInTheWay(
    `${display} is a directory, but the backup has a file there: move it away (a restore never removes a directory), or restore into another --to`,
    { path: display },
  );
}
