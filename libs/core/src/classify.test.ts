import { describe, expect, it } from 'vitest';
import { classify, SQLITE_HEADER, storedPath } from './classify.ts';

const none = new Uint8Array();

describe('classify', () => {
  it.each([
    ['/srv/app/data.db', none, false, 'database'],
    ['/srv/app/data.db-wal', none, false, 'database'],
    ['/srv/app/store.sqlite', SQLITE_HEADER, false, 'database'],
    ['/etc/app/app.yaml', none, false, 'config'],
    ['/etc/app/app.TOML', none, false, 'config'],
    ['/srv/app/.env', none, false, 'config'],
    ['/srv/app/.env.production', none, false, 'config'],
    ['/etc/app/hosts', none, true, 'config'],
    ['/srv/app/data.bin', none, false, 'general'],
    ['/srv/app/notes.txt', Buffer.from('SQLite format 2'), false, 'general'],
  ] as const)('%s → %s', (p, head, underConfig, expected) => {
    expect(classify(p, head, underConfig)).toBe(expected);
  });
});

describe('storedPath', () => {
  it('keeps the absolute path without its leading slash and adds the class suffix', () => {
    expect(storedPath('/srv/app/settings.json', 'general')).toBe('srv/app/settings.json.bak');
    expect(storedPath('/etc/app/app.conf', 'config')).toBe('etc/app/app.conf.config');
    expect(storedPath('/srv/app/data.db', 'database')).toBe('srv/app/data.db');
    expect(storedPath('/srv/app/data.db-wal', 'database')).toBe('srv/app/data.db-wal');
    expect(storedPath('/srv/app/store.sqlite', 'database')).toBe('srv/app/store.sqlite.db');
  });

  it('never maps two sources to one stored path by skipping a suffix', () => {
    expect(storedPath('/a/x.json', 'general')).not.toBe(storedPath('/a/x.json.bak', 'general'));
    expect(storedPath('/a/app.config', 'config')).toBe('a/app.config.config');
  });
});
