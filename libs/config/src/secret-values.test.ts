import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { secretScrubber, secretValues } from './secret-values.ts';

const config = {
  apiToken: 'fbk_bootstrap-token-1',
  metricsToken: null,
  databaseUrl: 'postgres://app:db-pass%2Fword@db:5432/fleet',
  targets: [
    {
      name: 's3',
      url: 's3://bucket/p?endpoint=http%3A%2F%2Fgw%3A9000%2F%3Ftoken%3Dendpoint-token-9&forcePathStyle=true',
      options: { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' } },
    },
    { name: 'gcs', url: 'gs://bucket/p', options: { keyFilename: '/etc/gcs/key.json' } },
  ],
  logLevel: 'info',
  dailyRetentionDays: 30,
};

describe('secretValues', () => {
  it('collects config secrets, URL passwords and secret query values, and secret environment variables', () => {
    const found = secretValues(config, {
      ENCRYPTION_KEY: 'k1:c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcw==',
      AWS_SECRET_ACCESS_KEY: 'env-aws-secret',
      REDIS_URL: 'redis://:redis-pass-1@redis:6379',
      HOME: '/root',
      FEATURE_KEY_ENABLED: 'true',
      SOME_KEY: '12345678',
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'fbk_bootstrap-token-1',
        'db-pass%2Fword',
        'db-pass/word',
        'endpoint-token-9',
        'wJalrXUtnFEMI/K7MDENG',
        'k1:c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcw==',
        'c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcw==',
        'env-aws-secret',
        'redis-pass-1',
      ]),
    );
    // Paths to key files, short flags and numbers are not secrets worth erasing from every line.
    for (const innocent of ['/etc/gcs/key.json', 'true', '12345678', '/root', 'info'])
      expect(found).not.toContain(innocent);
  });
});

describe('secretScrubber', () => {
  it('replaces a secret as is, JSON-escaped and percent-encoded', () => {
    const scrub = secretScrubber(['pa"ss/word']);
    expect(scrub('{"msg":"login pa\\"ss/word failed","url":"http://u:pa%22ss%2Fword@h"}')).toBe(
      '{"msg":"login [redacted] failed","url":"http://u:[redacted]@h"}',
    );
    expect(secretScrubber([])('unchanged')).toBe('unchanged');
  });
});

describe('createLogger', () => {
  it('keeps secrets out of lines, in messages, errors and fields alike', () => {
    const lines: string[] = [];
    const log = createLogger('info', 'test', {
      secrets: secretValues(config, {}),
      destination: { write: (line: string) => void lines.push(line) },
    });
    log.error(
      { err: new Error('PUT http://gw:9000/?token=endpoint-token-9 denied'), target: 's3' },
      'upload failed with wJalrXUtnFEMI/K7MDENG',
    );
    log.info({ config }, 'loaded');
    const out = lines.join('');
    expect(lines).toHaveLength(2);
    for (const secret of [
      'endpoint-token-9',
      'AKIAEXAMPLE',
      'wJalrXUtnFEMI/K7MDENG',
      'fbk_bootstrap-token-1',
      'db-pass',
    ])
      expect(out).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({ target: 's3', msg: 'upload failed with [redacted]' });
  });

  it('pretty-prints when asked (dev mode), through the same scrubber', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger('info', 'dev', { pretty: true, secrets: ['hunter2-secret'], destination });
    log.info({ backupId: 'b1' }, 'stage done with hunter2-secret');
    const out = lines.join('');
    expect(out).toMatch(/INFO.*stage done with \[redacted\]/);
    expect(out).toContain('backupId');
    expect(() => JSON.parse(out)).toThrow();
  });
});
