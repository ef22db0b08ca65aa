import { readFileSync } from 'node:fs';
import { BadInputError, Keyring, type KeySpec, NO_KEYS, parseKeySpec } from '@fleet-backup/core';

type Env = Record<string, string | undefined>;

/**
 * The encryption keys from the environment, checked strictly at load so a bad key stops a
 * process at start rather than failing a backup at night:
 * - `ENCRYPTION_KEY` = `<keyId>:<base64 of 32 bytes>`, or `ENCRYPTION_KEY_FILE` = a file holding
 *   that (for Docker/Kubernetes secrets; one of the two, not both): the key new backups use;
 * - `ENCRYPTION_OLD_KEYS` = a comma list of the same: keys retired by a rotation, still needed to
 *   restore backups made with them.
 * No current key: sensitive files are skipped (loudly), never stored in the clear.
 */
export function loadKeyring(env: Env): Keyring {
  const current = currentKey(env);
  const older = (env.ENCRYPTION_OLD_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s, i) => parseKeySpec(s, `ENCRYPTION_OLD_KEYS[${i}]`));
  if (!current && !older.length) return NO_KEYS;
  return new Keyring(current, older);
}

function currentKey(env: Env): KeySpec | null {
  const inline = env.ENCRYPTION_KEY;
  const file = env.ENCRYPTION_KEY_FILE;
  if (inline && file) throw new BadInputError('set ENCRYPTION_KEY or ENCRYPTION_KEY_FILE, not both');
  if (inline) return parseKeySpec(inline, 'ENCRYPTION_KEY');
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BadInputError(
      `ENCRYPTION_KEY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return parseKeySpec(text.trim(), `ENCRYPTION_KEY_FILE ${file}`);
}
