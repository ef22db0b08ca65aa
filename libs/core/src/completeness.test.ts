import { describe, expect, it } from 'vitest';
import { describeDrop, describeMassChange, massChange, missingRequired, sharpDrop } from './completeness.ts';

const APP = { path: '/srv/app', required: ['app.db', 'config/app.yaml'] };

describe('missingRequired', () => {
  it('lists the globs no stored file matches, shown absolute', () => {
    expect(missingRequired(['/srv/app'], [APP], ['/srv/app/config/app.yaml', '/srv/app/x.txt'])).toEqual([
      '/srv/app/app.db',
    ]);
    expect(missingRequired(['/srv/app'], [APP], ['/srv/app/app.db', '/srv/app/config/app.yaml'])).toEqual([]);
  });

  it('matches globs relative to the source, dotfiles included, and absolute globs as written', () => {
    const source = { path: '/srv/app', required: ['**/*.db', '.env', '/etc/app/*.conf'] };
    expect(missingRequired(['/'], [source], ['/srv/app/data/main.db', '/srv/app/.env'])).toEqual([
      '/etc/app/*.conf',
    ]);
    expect(missingRequired(['/'], [source], ['/srv/other/main.db'])).toEqual([
      '/srv/app/**/*.db',
      '/srv/app/.env',
      '/etc/app/*.conf',
    ]);
  });

  it('reads the source path literally, even with glob characters in it', () => {
    const source = { path: '/srv/[app]', required: ['app.db'] };
    expect(missingRequired(['/srv/[app]'], [source], ['/srv/[app]/app.db'])).toEqual([]);
    expect(missingRequired(['/srv/[app]'], [source], ['/srv/a/app.db'])).toEqual(['/srv/[app]/app.db']);
  });

  it('applies only to sources the backup takes whole', () => {
    // A backup of one subfolder never meant to take the source's database.
    expect(missingRequired(['/srv/app/config'], [APP], ['/srv/app/config/app.yaml'])).toEqual([]);
    expect(missingRequired(['/srv/other'], [APP], [])).toEqual([]);
    expect(missingRequired(['/srv'], [APP], [])).toEqual(['/srv/app/app.db', '/srv/app/config/app.yaml']);
    expect(missingRequired(['/srv/app'], [{ path: '/srv/app' }], [])).toEqual([]);
  });
});

describe('sharpDrop', () => {
  const before = { files: 10, bytes: 10_000 };

  it('flags a fall beyond the threshold in files or in bytes', () => {
    expect(sharpDrop({ files: 4, bytes: 4_000 }, before, 50)).toEqual({
      threshold: 50,
      files: { before: 10, after: 4, percent: 60 },
      bytes: { before: 10_000, after: 4_000, percent: 60 },
    });
    expect(sharpDrop({ files: 10, bytes: 3_000 }, before, 50)?.bytes.percent).toBe(70);
    expect(sharpDrop({ files: 3, bytes: 10_000 }, before, 50)?.files.percent).toBe(70);
  });

  it('leaves a fall up to the threshold, growth and a first backup alone', () => {
    expect(sharpDrop({ files: 7, bytes: 7_000 }, before, 50)).toBeNull();
    expect(sharpDrop({ files: 5, bytes: 5_000 }, before, 50)).toBeNull();
    expect(sharpDrop({ files: 20, bytes: 20_000 }, before, 50)).toBeNull();
    expect(sharpDrop({ files: 0, bytes: 0 }, { files: 0, bytes: 0 }, 50)).toBeNull();
  });

  it('rounds the shown percent to one decimal', () => {
    expect(sharpDrop({ files: 1, bytes: 10_000 }, { files: 3, bytes: 10_000 }, 50)?.files.percent).toBe(66.7);
  });

  it('describes the drop in one line', () => {
    const drop = sharpDrop({ files: 4, bytes: 4_000 }, before, 50);
    expect(describeDrop({ previous: { id: 'x', key: '20260301' }, ...drop! })).toBe(
      'files 10 -> 4 (-60%), bytes 10000 -> 4000 (-60%) since 20260301 (threshold 50%)',
    );
  });
});

describe('massChange', () => {
  it('flags more than the threshold of the files changed or gone, not the threshold itself', () => {
    expect(massChange({ before: 10, changed: 6 }, 50)).toEqual({
      threshold: 50,
      before: 10,
      changed: 6,
      percent: 60,
    });
    expect(massChange({ before: 10, changed: 5 }, 50)).toBeNull();
    expect(massChange({ before: 3, changed: 2 }, 50)?.percent).toBe(66.7);
    expect(massChange({ before: 0, changed: 0 }, 50)).toBeNull();
  });

  it('says it in one line', () => {
    const change = {
      previous: { id: 'x', key: '20260301' },
      threshold: 50,
      before: 10,
      changed: 7,
      percent: 70,
    };
    expect(describeMassChange(change)).toBe(
      '7 of 10 files (70%) changed or gone since 20260301 (threshold 50%)',
    );
  });
});
