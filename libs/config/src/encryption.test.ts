import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKeyring } from './encryption.ts';
import { loadConfig } from './load.ts';

const b64 = () => randomBytes(32).toString('base64');

describe('encryption keys from the environment', () => {
  it('none configured: an empty keyring, sensitive files will be skipped', () => {
    const ring = loadKeyring({});
    expect(ring.currentId).toBeNull();
    expect(ring.ids).toEqual([]);
  });

  it('reads ENCRYPTION_KEY and the older keys of ENCRYPTION_OLD_KEYS', () => {
    const ring = loadKeyring({
      ENCRYPTION_KEY: `k3:${b64()}`,
      ENCRYPTION_OLD_KEYS: ` k1:${b64()} ,k2:${b64()}`,
    });
    expect(ring.currentId).toBe('k3');
    expect(ring.ids).toEqual(['k3', 'k1', 'k2']);
  });

  it('reads the key from ENCRYPTION_KEY_FILE (a mounted secret), trailing newline and all', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'fbt-key-')), 'key');
    writeFileSync(file, `filekey:${b64()}\n`, { mode: 0o600 });
    expect(loadKeyring({ ENCRYPTION_KEY_FILE: file }).currentId).toBe('filekey');
    expect(() => loadKeyring({ ENCRYPTION_KEY_FILE: `${file}.missing` })).toThrow(/cannot read .*ENOENT/);
  });

  it('refuses both ENCRYPTION_KEY and ENCRYPTION_KEY_FILE, and a bad key at load, without echoing it', () => {
    expect(() => loadKeyring({ ENCRYPTION_KEY: `a:${b64()}`, ENCRYPTION_KEY_FILE: '/x' })).toThrow(
      /not both/,
    );
    const short = randomBytes(31).toString('base64');
    expect(() => loadKeyring({ ENCRYPTION_KEY: `a:${short}` })).toThrow(/^ENCRYPTION_KEY: key a must be/);
    expect(() => loadKeyring({ ENCRYPTION_KEY: `a:${short}` })).not.toThrow(short);
    expect(() => loadKeyring({ ENCRYPTION_OLD_KEYS: `ok:${b64()},bad` })).toThrow(
      /^ENCRYPTION_OLD_KEYS\[1\]/,
    );
  });

  it('loadConfig carries the keyring, which prints its ids only', () => {
    const secret = b64();
    const config = loadConfig({ ENCRYPTION_KEY: `prod:${secret}`, FLEET_BACKUP_HOST: 'h1' });
    expect(config.encryption.currentId).toBe('prod');
    expect(JSON.stringify(config)).not.toContain(secret);
    expect(JSON.stringify(config.encryption)).toBe('{"currentId":"prod","ids":["prod"]}');
  });

  it('SECRET_PATTERNS overrides the secret name patterns', () => {
    expect(loadConfig({ FLEET_BACKUP_HOST: 'h1' }).secretPatterns).toEqual([
      '*TOKEN*',
      '*SECRET*',
      '*PASSWORD*',
      '*KEY*',
    ]);
    expect(loadConfig({ FLEET_BACKUP_HOST: 'h1', SECRET_PATTERNS: 'API_*, *_PASS' }).secretPatterns).toEqual([
      'API_*',
      '*_PASS',
    ]);
  });
});
