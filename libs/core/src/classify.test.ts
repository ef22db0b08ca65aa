import { describe, expect, it } from 'vitest';
import { classify, NAME_MAX, SQLITE_HEADER, storedPath } from './classify.ts';

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

describe('storedPath of over-long names', () => {
  const bytes = (s: string) => Buffer.byteLength(s);
  const nameOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);

  it.each([
    ['ASCII', 'a'],
    ['2-byte', 'é'],
    ['3-byte', '語'],
    ['4-byte', '😀'],
  ])('fits NAME_MAX for every %s name of 240 to 255 bytes, and is deterministic', (_, ch) => {
    const seen = new Set<string>();
    for (let length = 240; length <= 255; length++) {
      const base = ch.repeat(Math.floor(length / bytes(ch)));
      const name = base + 'x'.repeat(length - bytes(base));
      expect(bytes(name)).toBe(length);
      for (const cls of ['general', 'config', 'database'] as const) {
        const stored = storedPath(`/srv/deep/${name}`, cls);
        expect(bytes(nameOf(stored))).toBeLessThanOrEqual(NAME_MAX);
        expect(stored.startsWith('srv/deep/')).toBe(true);
        expect(stored).toBe(storedPath(`/srv/deep/${name}`, cls));
        // The stand-in keeps whole characters: it is valid UTF-8 and round-trips.
        expect(Buffer.from(stored).toString('utf8')).toBe(stored);
        seen.add(stored);
      }
    }
    expect(seen.size).toBe(16 * 3);
  });

  it('keeps names that fit as they are, and uses a stand-in only past NAME_MAX', () => {
    const fits = 'n'.repeat(251);
    expect(storedPath(`/d/${fits}`, 'general')).toBe(`d/${fits}.bak`);
    const over = 'n'.repeat(252);
    const stored = storedPath(`/d/${over}`, 'general');
    expect(stored).toMatch(/^d\/n{96}~[0-9a-f]{16}\.bak$/);
    expect(storedPath(`/d/${'n'.repeat(253)}`, 'general')).not.toBe(stored);
    // A database keeps its own name: no suffix, so any real name fits.
    expect(storedPath(`/d/${'n'.repeat(252)}.db`, 'database')).toBe(`d/${'n'.repeat(252)}.db`);
    // Directory components carry no suffix and are never replaced.
    const dir = 'D'.repeat(255);
    expect(storedPath(`/${dir}/f`, 'general')).toBe(`${dir}/f.bak`);
  });
});
