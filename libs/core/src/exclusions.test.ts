import { describe, expect, it } from 'vitest';
import { DEFAULT_EXCLUSIONS, judge, neverBackedUp, ruleSet } from './exclusions.ts';

const root = '/srv/app';
const defaults = ruleSet(root);
const skipReason = (p: string, isDir: boolean, rules = defaults) => {
  const j = judge(rules, p, isDir);
  return j.take ? null : j.reason;
};

describe('default exclusion rules', () => {
  it('is one table of the five categories the seed names', () => {
    expect([...new Set(DEFAULT_EXCLUSIONS.map((r) => r.category))]).toEqual([
      'archive',
      'temp',
      'cache',
      'logs',
      'generated',
    ]);
  });

  it.each([
    ['/srv/app/x.tmp', false, 'temp: *.tmp'],
    ['/srv/app/deep/x.temp', false, 'temp: *.temp'],
    ['/srv/app/.x.swp', false, 'temp: *.swp'],
    ['/srv/app/tmp', true, 'temp: tmp/'],
    ['/srv/app/a/temp', true, 'temp: temp/'],
    ['/srv/app/.cache', true, 'cache: .cache/'],
    ['/srv/app/cache', true, 'cache: cache/'],
    ['/srv/app/py/__pycache__', true, 'cache: __pycache__/'],
    ['/srv/app/app.log', false, 'logs: *.log'],
    ['/srv/app/.hidden.log', false, 'logs: *.log'],
    ['/srv/app/app.log.12', false, 'logs: *.log.N'],
    ['/srv/app/logs', true, 'logs: logs/'],
    ['/srv/app/web/dist', true, 'generated: dist/'],
    ['/srv/app/build', true, 'generated: build/'],
    ['/srv/app/node_modules', true, 'generated: node_modules/'],
    ['/srv/app/m.pyc', false, 'generated: *.pyc'],
    ['/srv/app/coverage', true, 'generated: coverage/'],
    ['/srv/app/old/archive', true, 'archive: **/archive/**'],
    ['/srv/app/archive/x.txt', false, 'archive: **/archive/**'],
  ])('skips %s (dir %s) by %s', (p, isDir, rule) => {
    expect(skipReason(p, isDir)).toBe(`excluded by default rule ${rule}`);
  });

  it.each([
    ['/srv/app/app.log.old', false],
    ['/srv/app/tmp', false], // a file named tmp: only directories named tmp are temporary
    ['/srv/app/logs.txt', false],
    ['/srv/app/settings.json', false],
    ['/srv/app/distribution', true],
  ])('takes %s (dir %s)', (p, isDir) => {
    expect(judge(defaults, p, isDir)).toEqual({ take: true, included: false });
  });

  it('matches relative to the walked root, so a tree under /tmp or an archive folder is not lost', () => {
    expect(judge(ruleSet('/tmp/x'), '/tmp/x/a.txt', false).take).toBe(true);
    expect(judge(ruleSet('/data/archive/app'), '/data/archive/app/a.txt', false).take).toBe(true);
  });

  it('never backs up /archive, whatever is included', () => {
    expect(neverBackedUp('/archive/2024/x')).toBe('excluded by default rule archive: /archive');
    expect(neverBackedUp('/archived')).toBeNull();
    const rules = ruleSet('/', { path: '/', include: ['archive/**', '/archive'] });
    expect(judge(rules, '/archive', true)).toMatchObject({ take: false, rescue: false });
  });
});

describe('source overrides', () => {
  const rules = ruleSet(root, {
    path: root,
    include: ['logs/audit.log', 'build/'],
    exclude: ['*.bak', 'secret/**'],
  });

  it('an explicit include beats a default exclude', () => {
    expect(judge(rules, '/srv/app/build', true)).toEqual({ take: true, included: true });
    // logs/ is excluded by default, but an include names a file in it: walk it for that file only.
    expect(judge(rules, '/srv/app/logs', true)).toMatchObject({ take: false, rescue: true, quiet: false });
    expect(judge(rules, '/srv/app/logs/audit.log', false, 'rescue')).toEqual({ take: true, included: true });
    expect(judge(rules, '/srv/app/logs/other.log', false, 'rescue')).toMatchObject({
      take: false,
      quiet: true,
    });
    expect(judge(rules, '/srv/app/build/x.log', false, 'included')).toEqual({ take: true, included: true });
  });

  it('an exclude removes a normally taken file, and beats an include', () => {
    expect(skipReason('/srv/app/data.bak', false, rules)).toBe('excluded by source rule: *.bak');
    expect(skipReason('/srv/app/secret', true, rules)).toBe('excluded by source rule: secret/**');
    expect(judge(rules, '/srv/app/build/x.bak', false, 'included')).toMatchObject({ take: false });
  });

  it('walks an excluded directory only when an include could reach into it', () => {
    const pathOnly = ruleSet(root, { path: root, include: ['logs/audit.log'] });
    expect(judge(pathOnly, '/srv/app/node_modules', true)).toMatchObject({ take: false, rescue: false });
    // A name glob can match at any depth, so it reaches into every excluded directory.
    expect(judge(rules, '/srv/app/node_modules', true)).toMatchObject({ take: false, rescue: true });
  });

  it('resolves a source glob against the source, not the requested path beneath it', () => {
    const deeper = ruleSet('/srv/app/logs', { path: root, include: ['logs/audit.log'] });
    expect(judge(deeper, '/srv/app/logs/audit.log', false)).toEqual({ take: true, included: true });
    expect(skipReason('/srv/app/logs/other.log', false, deeper)).toBe('excluded by default rule logs: *.log');
  });
});
