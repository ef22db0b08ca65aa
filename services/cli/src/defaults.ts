import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '@fleet-backup/config';

/**
 * The embedded default for `start` on a fresh machine: with no config file, back up a sample
 * folder under DATA_DIR to DATA_DIR/backup, with a second copy in DATA_DIR/second-copy.
 * Explicit settings (BACKUP_ROOT, a config file) always win.
 */
export async function withEmbeddedDefaults(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  const out: Config = { ...config, hosts: { ...config.hosts } };
  if (!env.BACKUP_ROOT) out.backupRoot = path.join(config.dataDir, 'backup');
  if (config.configFile) return out;
  const sample = path.join(config.dataDir, 'sample');
  await writeSample(sample);
  out.hosts[config.host] = { sources: [{ path: sample, config: false }], labels: { embedded: 'true' } };
  const second = path.join(config.dataDir, 'second-copy');
  await mkdir(second, { recursive: true });
  out.targets = [{ name: 'second', url: `file://${second}`, options: {} }];
  return out;
}

async function writeSample(dir: string): Promise<void> {
  const marker = path.join(dir, 'README.txt');
  if (
    await access(marker).then(
      () => true,
      () => false,
    )
  )
    return;
  await mkdir(path.join(dir, 'app', 'data'), { recursive: true });
  await mkdir(path.join(dir, 'etc'), { recursive: true });
  await writeFile(marker, 'Sample files backed up by `npm start`. Edit or add files, then restart.\n');
  await writeFile(path.join(dir, 'etc', 'app.yaml'), 'listen: 8080\nworkers: 4\n');
  await writeFile(path.join(dir, 'app', '.env'), 'APP_MODE=demo\n');
  await writeFile(path.join(dir, 'app', 'data', 'records.bin'), Buffer.alloc(64 * 1024, 7));
}
