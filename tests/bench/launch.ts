// How the benches start fleet-backup's processes: as the bin's shebang does (and the Dockerfile,
// which tests/deploy holds to the same), its environment settings and Node flags read from the
// shebang itself. BENCH_NODE_FLAGS tries other flags; a setting in the bench's own environment
// (MALLOC_ARENA_MAX=8 npm run bench:offsite) wins over the shebang's.
import { readFileSync } from 'node:fs';

const BIN = new URL('../../services/launcher/bin/fleet-backup.js', import.meta.url);

export interface Launch {
  /** Variables the shebang sets (NAME=value before `node`). */
  env: Record<string, string>;
  /** Flags it gives node. */
  nodeFlags: string[];
}

/** The shebang `#!/usr/bin/env -S [NAME=value…] node [flags…]`, split. */
export function parseShebang(line: string): Launch {
  const words = line
    .replace(/^#!\/usr\/bin\/env -S /, '')
    .trim()
    .split(/\s+/);
  const node = words.indexOf('node');
  if (!line.startsWith('#!/usr/bin/env -S ') || node < 0) throw new Error(`unexpected shebang: ${line}`);
  return {
    env: Object.fromEntries(words.slice(0, node).map((w) => w.split('=', 2) as [string, string])),
    nodeFlags: words.slice(node + 1),
  };
}

export const shebang = parseShebang(readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '');

export const NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ') ?? shebang.nodeFlags;

/** The environment of a fleet-backup process the bench starts, before its own settings. */
export const launchEnv = (): NodeJS.ProcessEnv => ({ ...shebang.env, ...process.env });
