import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { Keyring, parseKeySpec } from '@fleet-backup/core';
import { DataKeys } from '@fleet-backup/db';
import { Targets } from '@fleet-backup/runtime';
import {
  HOSTS_PREFIX,
  listAll,
  parseManifestKey,
  readListedManifest,
  readOnly,
  SealingKeys,
  type WrappedDataKey,
} from '@fleet-backup/storage';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';

const FORMAT = 'fleet-backup.recovery/1';

/** What `keys export` writes: every configured encryption key, and the data key's wrappings. */
interface Recovery {
  format: typeof FORMAT;
  created: string;
  /** `<keyId>:<base64>`, the current key first: ENCRYPTION_KEY, then ENCRYPTION_OLD_KEYS. */
  encryptionKeys: string[];
  dataKeys: WrappedDataKey[];
}

export function registerKeyCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description('the keys that open sealed targets: a recovery copy, and a check that it opens them')
    .addHelpText(
      'after',
      '\nExample:\n  fleet-backup keys export --out /media/usb/fleet-backup-keys.json\n  fleet-backup keys check --recovery /media/usb/fleet-backup-keys.json --target s3-eu',
    );

  keys
    .command('export')
    .description(
      'write a recovery copy of the key material (the encryption keys, and the data key they wrap) to a new file, mode 0600',
    )
    .requiredOption('--out <file>', 'a file that does not exist yet; keep it offline, away from every target')
    .addHelpText('after', '\nExample:\n  fleet-backup keys export --out /media/usb/fleet-backup-keys.json')
    .action(async (opts: { out: string }) => {
      await withRuntime(
        async (rt) => {
          const keyring = rt.config.encryption;
          if (keyring.currentId === null) {
            throw new CliError(
              'no encryption key configured (ENCRYPTION_KEY): nothing to export',
              EXIT.usage,
            );
          }
          // The data key is made on first use; exporting before the first backup makes it now.
          await new SealingKeys(new DataKeys(rt.pool), keyring).current();
          const ids = [keyring.currentId, ...keyring.ids.filter((id) => id !== keyring.currentId)];
          const recovery: Recovery = {
            format: FORMAT,
            created: rt.clock.now().toISOString(),
            encryptionKeys: ids.map((id) => `${id}:${keyring.keyFor(id)?.toString('base64')}`),
            dataKeys: (await new DataKeys(rt.pool).records()) as WrappedDataKey[],
          };
          const out = path.resolve(opts.out);
          await writeFile(out, `${JSON.stringify(recovery, null, 2)}\n`, { flag: 'wx', mode: 0o600 }).catch(
            (err: NodeJS.ErrnoException) => {
              throw new CliError(
                `cannot write ${out}: ${err.code ?? err.message} (it must not exist yet)`,
                EXIT.usage,
              );
            },
          );
          console.log(
            `wrote ${out}: encryption keys ${ids.join(', ')}, data key ${recovery.dataKeys[0]?.id}; ` +
              'with it and a bucket, every sealed copy restores. Whoever holds it can read them: keep it offline',
          );
        },
        { redis: false },
      );
    });

  keys
    .command('check')
    .description(
      'prove a recovery copy opens a target: the newest backup of each host there is read through its manifest and listing (targets from FLEET_BACKUP_CONFIG; no Postgres needed)',
    )
    .requiredOption('--recovery <file>', 'a file written by keys export')
    .requiredOption('--target <name>', 'a sealed target of the configuration')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet-backup keys check --recovery /media/usb/fleet-backup-keys.json --target s3-eu',
    )
    .action(async (opts: { recovery: string; target: string; json?: boolean }) => {
      const recovery = await readRecovery(opts.recovery);
      const [current, ...older] = recovery.encryptionKeys.map((k, i) =>
        parseKeySpec(k, `encryptionKeys[${i}]`),
      );
      const keyring = new Keyring(current ?? null, older);
      const targets = new Targets(loadConfig().targets, { sealing: new SealingKeys(null, keyring) });
      const target = readOnly(targets.get(opts.target));
      if (!targets.sealed(opts.target))
        throw new CliError(`target ${opts.target} is not sealed: no key opens it`, EXIT.usage);
      const newest = new Map<string, string>();
      for await (const o of listAll(target, HOSTS_PREFIX)) {
        const m = parseManifestKey(o.key);
        if (m && (newest.get(m.host) ?? '') < m.backupKey) newest.set(m.host, m.backupKey);
      }
      const hosts: { host: string; backup: string; files: number }[] = [];
      for (const [host, backup] of newest) {
        const manifest = await readListedManifest(target, host, backup).catch((err: Error) => {
          throw new CliError(
            `the recovery copy does not open ${host}/${backup} on ${opts.target}: ${err.message}`,
            EXIT.failed,
          );
        });
        hosts.push({ host, backup, files: Object.keys(manifest.files).length });
      }
      if (opts.json) return printJson({ target: opts.target, opens: true, hosts });
      for (const h of hosts)
        console.log(`opens ${h.host}/${h.backup} on ${opts.target}: ${h.files} files listed`);
      if (!hosts.length) console.log(`target ${opts.target} holds no backup yet`);
    });
}

async function readRecovery(file: string): Promise<Recovery> {
  let parsed: Recovery;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Recovery;
  } catch (err) {
    throw new CliError(`cannot read the recovery copy ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  if (parsed.format !== FORMAT || !Array.isArray(parsed.encryptionKeys)) {
    throw new CliError(`${file} is not a recovery copy written by fleet-backup keys export`, EXIT.usage);
  }
  return parsed;
}
