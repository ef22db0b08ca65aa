// The peers fleet-backup is compared with, run on the same data in the same process run:
// coreutils cp (+ sync), rsync, restic and borg from Debian's packages.
import { execFile, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PEERS = ['cp', 'rsync', 'restic', 'borg'] as const;
export type Peer = (typeof PEERS)[number];

/** Seconds of a first backup and of an unchanged re-run, per peer (null: not run). */
export interface PeerFigures {
  first: number | null;
  rerun: number | null;
  /** What the re-run was, when it is not the same command again (`cp -al`, `rsync --link-dest`). */
  rerunAs?: string;
}

const PACKAGES: Record<string, string> = {
  rsync: 'rsync',
  restic: 'restic',
  borg: 'borgbackup',
  hyperfine: 'hyperfine',
};

/** Installs the Debian packages of the missing peer tools; returns the tools still missing. */
export async function ensureTools(wanted: string[], log: (line: string) => void): Promise<Set<string>> {
  const missing = [];
  for (const tool of wanted) if (PACKAGES[tool] && !(await which(tool))) missing.push(tool);
  if (missing.length) {
    const pkgs = missing.map((t) => PACKAGES[t]!);
    log(`installing ${pkgs.join(' ')} (apt-get install -y)…`);
    await run('apt-get', ['install', '-y', ...pkgs], { maxBuffer: 64 << 20 }).catch((err: Error) =>
      log(`apt-get install failed: ${err.message.split('\n')[0]}`),
    );
  }
  const still = new Set<string>();
  for (const tool of missing) if (!(await which(tool))) still.add(tool);
  return still;
}

async function which(tool: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}

/** Runs one command to completion and returns its wall-clock seconds; throws with its stderr on failure. */
export async function timed(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Dirty pages left by the previous run are flushed first, so they are not billed to this one.
  await run('sync');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}: ${err.slice(-500)}`)),
    );
  });
  return (performance.now() - started) / 1000;
}

/** restic's environment for a repository (`repo` under `dir` unless given) with its cache under `dir`. */
export function resticEnv(dir: string, repository = path.join(dir, 'repo')): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RESTIC_REPOSITORY: repository,
    RESTIC_PASSWORD: 'bench-restic-password',
    RESTIC_CACHE_DIR: path.join(dir, 'cache'),
  };
}

/**
 * One peer on one data set: a first backup of `source` into a fresh place under `work`, then an
 * unchanged re-run, the way a user of that tool would make a second backup.
 */
export async function runPeer(peer: Peer, source: string, work: string): Promise<PeerFigures> {
  const dir = path.join(work, peer);
  await mkdir(dir, { recursive: true });
  switch (peer) {
    case 'cp': {
      // cp has no durability of its own: `sync` makes the copy as safe as a recorded backup.
      const first = await timed(['sh', '-c', 'cp -r "$0" "$1" && sync', source, path.join(dir, 'first')]);
      const rerun = await timed(['cp', '-al', path.join(dir, 'first'), path.join(dir, 'second')]);
      return { first, rerun, rerunAs: 'cp -al' };
    }
    case 'rsync': {
      const first = await timed(['rsync', '-a', `${source}/`, path.join(dir, 'first')]);
      const linkDest = `--link-dest=${path.join(dir, 'first')}`;
      const rerun = await timed(['rsync', '-a', linkDest, `${source}/`, path.join(dir, 'second')]);
      return { first, rerun, rerunAs: 'rsync -a --link-dest' };
    }
    case 'restic': {
      const env = resticEnv(dir);
      await timed(['restic', 'init', '-q'], env);
      const first = await timed(['restic', 'backup', '-q', source], env);
      const rerun = await timed(['restic', 'backup', '-q', source], env);
      return { first, rerun };
    }
    case 'borg': {
      const repo = path.join(dir, 'repo');
      const env = {
        ...process.env,
        BORG_PASSPHRASE: 'bench-borg-passphrase',
        BORG_BASE_DIR: path.join(dir, 'base'),
        BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      };
      await timed(['borg', 'init', '--encryption=repokey', repo], env);
      const first = await timed(['borg', 'create', `${repo}::first`, source], env);
      const rerun = await timed(['borg', 'create', `${repo}::second`, source], env);
      return { first, rerun };
    }
  }
}
