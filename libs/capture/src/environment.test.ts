import { DEFAULT_SECRET_PATTERNS } from '@fleet-backup/core';
import { describe, expect, it } from 'vitest';
import { captureEnvironment, ENVIRONMENT_HEADER, escapeValue } from './environment.ts';

/** The reader the format documents: the name ends at the first `=`, values unescaped. */
function parse(doc: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of doc.split('\n').slice(1, -1)) {
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line
      .slice(eq + 1)
      .replace(/\\([\\nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
  }
  return out;
}

const patterns = DEFAULT_SECRET_PATTERNS;

describe('captureEnvironment', () => {
  it('takes only allowed names, sorted, one NAME=value per line after the header', () => {
    const vars = { NODE_ENV: 'production', APP_B: '2', APP_A: '1', HOME: '/root', APPX: 'no', PATH: '/bin' };
    const c = captureEnvironment(vars, ['APP_*', 'NODE_ENV'], patterns);
    expect(c.plain).toBe(`${ENVIRONMENT_HEADER}APP_A=1\nAPP_B=2\nNODE_ENV=production\n`);
    expect(c.names).toEqual(['APP_A', 'APP_B', 'NODE_ENV']);
    expect(c.secret).toBeNull();
    expect(c.secretNames).toEqual([]);
  });

  it('matches names case-sensitively and wholly, with ? for one character', () => {
    const vars = { app_x: 'lower', APP_X: 'upper', MY_APP_X: 'prefixed', V1: 'a', V22: 'b' };
    const c = captureEnvironment(vars, ['APP_*', 'V?'], patterns);
    expect(c.names).toEqual(['APP_X', 'V1']);
  });

  it('moves secret-named variables and URLs with a password to the secret document', () => {
    const vars = {
      APP_MODE: 'prod',
      APP_API_TOKEN: 'tok-123',
      APP_DB_PASSWORD: 'hunter2',
      APP_signing_key: 'k',
      APP_DATABASE_URL: 'postgres://app:s3cret@db:5432/app',
      APP_PUBLIC_URL: 'https://example.test/app',
    };
    const c = captureEnvironment(vars, ['APP_*'], patterns);
    expect(c.names).toEqual(['APP_MODE', 'APP_PUBLIC_URL']);
    expect(c.secretNames).toEqual([
      'APP_API_TOKEN',
      'APP_DATABASE_URL',
      'APP_DB_PASSWORD',
      'APP_signing_key',
    ]);
    for (const secret of ['tok-123', 'hunter2', 's3cret']) expect(c.plain).not.toContain(secret);
    expect(parse(c.secret ?? '')).toEqual({
      APP_API_TOKEN: 'tok-123',
      APP_DATABASE_URL: 'postgres://app:s3cret@db:5432/app',
      APP_DB_PASSWORD: 'hunter2',
      APP_signing_key: 'k',
    });
  });

  it('uses the configured secret patterns', () => {
    const c = captureEnvironment({ APP_PIN: '1234', APP_TOKEN: 'x' }, ['APP_*'], ['*PIN*']);
    expect(c.secretNames).toEqual(['APP_PIN']);
    expect(c.names).toEqual(['APP_TOKEN']);
  });

  it('escapes newlines, carriage returns and backslashes so a value stays on its line and round-trips', () => {
    const tricky = 'line one\nAPP_INJECTED=evil\r\nback\\slash \\n literal';
    const c = captureEnvironment({ APP_MOTD: tricky, APP_EMPTY: '' }, ['APP_*'], patterns);
    expect(c.plain.split('\n')).toHaveLength(4); // header, two variables, the final newline
    expect(parse(c.plain)).toEqual({ APP_EMPTY: '', APP_MOTD: tricky });
    expect(escapeValue('a\\b\nc\rd')).toBe('a\\\\b\\nc\\rd');
  });

  it('never takes a name that is not portable, nor an unset one', () => {
    const c = captureEnvironment(
      { 'APP-X': '1', 'APP X': '2', APP_SET: '3', APP_UNSET: undefined },
      ['APP*'],
      patterns,
    );
    expect(c.names).toEqual(['APP_SET']);
  });

  it("never takes the agent's own encryption keys, even when the allowlist says *", () => {
    const vars = { ENCRYPTION_KEY: 'k1:x', ENCRYPTION_OLD_KEYS: 'k0:y', ENCRYPTION_KEY_FILE: '/k', APP: '1' };
    const c = captureEnvironment(vars, ['*'], patterns);
    expect([...c.names, ...c.secretNames]).toEqual(['APP']);
  });

  it('gives the same bytes for the same environment (nothing time-dependent)', () => {
    const vars = { APP_B: '2', APP_A: '1' };
    expect(captureEnvironment(vars, ['APP_*'], patterns)).toEqual(
      captureEnvironment({ APP_A: '1', APP_B: '2' }, ['APP_*'], patterns),
    );
  });
});
