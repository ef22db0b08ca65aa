import { describe, expect, it } from 'vitest';
import { DEFAULT_SECRET_PATTERNS, isSecretName, sensitiveMatcher } from './secrets.ts';

describe('isSecretName', () => {
  it.each([
    'GITHUB_TOKEN',
    'api_token',
    'DB_PASSWORD',
    'client_secret',
    'AWS_SECRET_ACCESS_KEY',
    'SSH_KEY_PATH',
    'Keyring',
  ])('flags %s with the default patterns', (name) => {
    expect(isSecretName(name)).toBe(true);
  });

  it.each(['PATH', 'HOME', 'NODE_ENV', 'LANG', 'TOKYO'])('leaves %s alone', (name) => {
    expect(isSecretName(name)).toBe(false);
  });

  it('uses the configured patterns instead of the defaults', () => {
    expect(isSecretName('STRIPE_API', ['STRIPE_*'])).toBe(true);
    expect(isSecretName('GITHUB_TOKEN', ['STRIPE_*'])).toBe(false);
  });

  it('defaults to the four patterns of the issue', () => {
    expect(DEFAULT_SECRET_PATTERNS).toEqual(['*TOKEN*', '*SECRET*', '*PASSWORD*', '*KEY*']);
  });
});

describe('sensitiveMatcher', () => {
  const defaults = sensitiveMatcher('/srv/app');

  it.each([
    ['/srv/app/tls/server.pem', '*.pem'],
    ['/srv/app/tls/server.KEY', '*.key'],
    ['/home/u/.ssh/id_rsa', 'id_rsa*'],
    ['/home/u/.ssh/id_ed25519', 'id_ed25519*'],
    ['/srv/app/.env', '.env'],
    ['/srv/app/.env.production', '.env.*'],
    ['/srv/app/api.token', '*.token'],
    ['/srv/app/deploy_token.txt', '*token*'],
    ['/srv/app/client-secret.json', '*secret*'],
    ['/root/.aws/credentials', 'credentials*'],
  ])('flags %s by %s', (file, rule) => {
    expect(defaults.match(file)).toBe(rule);
  });

  it('keeps a curated file list: names that merely contain "key" are not secrets', () => {
    for (const f of ['/srv/app/monkey.txt', '/srv/app/keyboard.conf', '/srv/app/app.db', '/srv/app/x.yaml'])
      expect(defaults.match(f)).toBeNull();
  });

  it("adds a source's globs: by name, relative to the source, and absolute", () => {
    const m = sensitiveMatcher('/srv/app', ['*.vault', 'conf/private/**', '/etc/app/master.cfg']);
    expect(m.match('/srv/app/deep/x.vault')).toBe('*.vault');
    expect(m.match('/srv/app/conf/private/a.yml')).toBe('conf/private/**');
    expect(m.match('/srv/other/conf/private/a.yml')).toBeNull();
    expect(m.match('/etc/app/master.cfg')).toBe('/etc/app/master.cfg');
    expect(m.match('/srv/app/conf/public/a.yml')).toBeNull();
  });

  it("flags a SQLite database's -wal, -shm and -journal with it", () => {
    const m = sensitiveMatcher('/srv/app', ['vault.db']);
    for (const suffix of ['', '-wal', '-shm', '-journal'])
      expect(m.match(`/srv/app/vault.db${suffix}`)).toBe('vault.db');
    expect(m.match('/srv/app/other.db-wal')).toBeNull();
  });
});
