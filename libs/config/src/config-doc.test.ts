import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BadInputError } from '@fleet-backup/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffConfig, parseConfigDoc } from './config-doc.ts';
import { readConfigDoc } from './load.ts';
import { configFileSchema } from './schema.ts';
import { referencedSecrets, resolveSecretRefs } from './secret-refs.ts';
import { secretValues } from './secret-values.ts';

const s3 = (secretAccessKey: unknown) => ({
  name: 's3-eu',
  url: 's3://bucket/fleet',
  options: { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey } },
});

describe('a configuration document', () => {
  it('is refused whole, naming every problem by its path', () => {
    const bad = {
      hosts: { 'web-1': { sources: [{ path: 'relative/dir' }], dailyAt: '25:00' } },
      targets: [s3('wJalrXUtnFEMI-in-the-clear')],
      dailyRetentionDays: 0,
    };
    let error: unknown;
    try {
      parseConfigDoc(bad, 'fleet.json');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BadInputError);
    const message = (error as Error).message;
    expect(message).toContain('fleet.json is refused, nothing was applied (4 problems)');
    for (const where of [
      'hosts.web-1.sources.0.path',
      'hosts.web-1.dailyAt',
      'targets.0.options.credentials.secretAccessKey: a secret is never stored in the configuration',
      'dailyRetentionDays',
    ]) {
      expect(message).toContain(`  ${where}`);
    }
    // The refusal never repeats the secret it refused.
    expect(message).not.toContain('wJalrXUtnFEMI');
  });

  it('takes secrets by reference: an environment variable or a file', () => {
    const doc = parseConfigDoc(
      { targets: [s3({ env: 'S3_EU_SECRET' }), { ...s3({ file: '/etc/fleet/s3.key' }), name: 's3-us' }] },
      'fleet.json',
    );
    expect(doc.targets.map((t) => t.options)).toEqual([
      { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: { env: 'S3_EU_SECRET' } } },
      { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: { file: '/etc/fleet/s3.key' } } },
    ]);
    expect(() => parseConfigDoc({ targets: [s3({ env: 'not a name' })] }, 'f')).toThrow(
      /secretAccessKey: a reference is/,
    );
  });

  it('diffs hosts, sources, targets and settings, without showing option values', () => {
    const before = configFileSchema.parse({
      hosts: { 'web-1': { sources: [{ path: '/etc' }, { path: '/srv' }] }, 'db-1': {} },
      targets: [{ name: 'second', url: 'file:///mnt/second' }, s3({ env: 'OLD_NAME' })],
    });
    const after = configFileSchema.parse({
      hosts: {
        'web-1': { sources: [{ path: '/etc', config: true }, { path: '/var/www' }], dailyAt: '03:00' },
        'web-2': {},
      },
      targets: [{ name: 'second', url: 'file:///mnt/second' }, s3({ env: 'NEW_NAME' })],
      dailyRetentionDays: 14,
    });
    expect(diffConfig(before, after)).toEqual([
      '~ host web-1: source /etc changed (config); source /var/www added; source /srv removed; dailyAt changed',
      '+ host web-2',
      '- host db-1',
      '~ target s3-eu: options',
      '~ dailyRetentionDays: 30 -> 14',
    ]);
    expect(diffConfig(after, after)).toEqual([]);
    expect(diffConfig(null, configFileSchema.parse({ hosts: { a: {} } }))).toEqual(['+ host a']);
  });
});

describe('secret references', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'secret-refs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('are read where the role runs, and a missing one names the variable or file, never a value', async () => {
    const file = path.join(dir, 'key');
    await writeFile(file, 'from-the-file\n');
    const options = {
      credentials: { accessKeyId: 'AKIA', secretAccessKey: { env: 'S3_EU_SECRET' } },
      keyFile: { file },
    };
    expect(resolveSecretRefs(options, 'target s3-eu: options', { S3_EU_SECRET: 'from-the-env' })).toEqual({
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 'from-the-env' },
      keyFile: 'from-the-file',
    });
    expect(() => resolveSecretRefs(options, 'target s3-eu: options', {})).toThrow(
      'target s3-eu: options.credentials.secretAccessKey needs the environment variable S3_EU_SECRET, which is not set for this process',
    );
    const gone = { password: { file: path.join(dir, 'absent') } };
    expect(() => resolveSecretRefs(gone, 'target x: options', {})).toThrow(
      /options.password needs the file .*absent.*ENOENT/,
    );
  });

  it('are scrubbed from logs by what they name, whatever the variable is called', () => {
    const config = { targets: [s3({ env: 'PLAIN_NAME' })] };
    const env = { PLAIN_NAME: 'the-referenced-secret' };
    expect(referencedSecrets(config, env)).toEqual(['the-referenced-secret']);
    expect(secretValues(config, env)).toContain('the-referenced-secret');
  });

  it('reads a configuration file through the same checks', async () => {
    const file = path.join(dir, 'fleet.json');
    await writeFile(file, JSON.stringify({ targets: [s3('clear-secret-value')] }));
    expect(() => readConfigDoc(file)).toThrow(/targets\.0\.options\.credentials\.secretAccessKey/);
  });
});
