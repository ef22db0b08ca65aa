import path from 'node:path';
import { BadInputError } from './errors.ts';

/**
 * A source path as a request may name it: absolute, already normalised (so no `..`, `.` or
 * doubled slashes can smuggle it elsewhere), and free of NUL bytes.
 */
export function assertCleanAbsolutePath(p: string, what = 'path'): string {
  if (p.includes('\0')) throw new BadInputError(`${what} contains a NUL byte`, { path: p });
  if (!path.posix.isAbsolute(p)) throw new BadInputError(`${what} ${p} is not absolute`, { path: p });
  const normal = path.posix.normalize(p).replace(/(.)\/+$/, '$1');
  if (normal !== p || p.split('/').includes('..')) {
    throw new BadInputError(`${what} ${p} is not normalised (no "..", "." or "//" allowed); use ${normal}`, {
      path: p,
    });
  }
  return p;
}

/** True when child is root itself or lies beneath it (both absolute and normalised). */
export function isInside(child: string, root: string): boolean {
  if (root === '/') return child.startsWith('/');
  return child === root || child.startsWith(`${root}/`);
}
