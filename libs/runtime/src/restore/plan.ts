import path from 'node:path';
import { componentsOf, pathBytesOf, type RestoreFile, type RestoreNode } from './model.ts';

/** An entry with where it lands: its parent directory's components and its own name, as bytes. */
export interface Placed<T> {
  entry: T;
  parent: Buffer[];
  name: Buffer;
  /** Its full path under the restore directory, for messages. */
  display: string;
}

/** Where each entry lands under `top` (paths already checked by assertSafeRestoreSet). */
export function place<T extends RestoreFile | RestoreNode>(entries: T[], top: string): Placed<T>[] {
  return entries.map((entry) => {
    const parts = componentsOf(pathBytesOf(entry));
    return {
      entry,
      parent: parts.slice(0, -1),
      name: parts[parts.length - 1] as Buffer,
      display: path.join(top, entry.path),
    };
  });
}

/** The latin1 key of a directory's components, as DirTree keys them. */
export function dirKey(components: Buffer[]): string {
  return components.map((c) => c.toString('latin1')).join('/');
}

/** Deepest first, so a directory's mode (0500, say) is set only once nothing more is written in it. */
export function deepestFirst<T>(dirs: Placed<T>[]): Placed<T>[] {
  return [...dirs].sort((a, b) => b.parent.length - a.parent.length);
}
