import { describe, expect, it } from 'vitest';
import type { RestoreFile, RestoreNode } from './model.ts';
import { selectForRestore } from './select.ts';

const SHA = 'c'.repeat(64);
const file = (p: string): RestoreFile => ({ path: p, storedPath: `${p}.x`, size: 1, sha256: SHA });
const attrs = { mode: 0o755, uid: 0, gid: 0, owner: null, group: null, mtimeNs: '1' };
const dir = (p: string): RestoreNode => ({
  path: p,
  type: 'dir',
  target: null,
  pathBytes: null,
  targetBytes: null,
  attrs,
});
const link = (p: string): RestoreNode => ({ ...dir(p), type: 'symlink', target: 'x' });

const set = {
  files: [
    file('environment.config'),
    file('environment.secrets.config'),
    file('dependencies.config'),
    file('srv/app/a.conf'),
    file('srv/app/sub/b.bin'),
    file('srv/other/c'),
  ],
  nodes: [dir('srv'), dir('srv/app'), dir('srv/app/sub'), dir('srv/other'), link('srv/app/current')],
};
const paths = (s: { files: RestoreFile[]; nodes: RestoreNode[] }) => [
  ...s.files.map((f) => f.path),
  ...s.nodes.map((n) => `${n.path}/`),
];

describe('selectForRestore', () => {
  it('leaves the generated items out of a full restore, and says which', () => {
    const s = selectForRestore(set, undefined, 'b');
    expect(s.files.map((f) => f.path)).toEqual(['srv/app/a.conf', 'srv/app/sub/b.bin', 'srv/other/c']);
    expect(s.withheld).toEqual(['environment.config', 'environment.secrets.config', 'dependencies.config']);
    expect(s.nodes).toHaveLength(5);
  });

  it('restores a generated item when --file names it, the secrets one included', () => {
    const s = selectForRestore(set, ['/environment.secrets.config'], 'b');
    expect(paths(s)).toEqual(['environment.secrets.config']);
    expect(s.withheld).toEqual([]);
  });

  it('takes a named file with the directories above it, a named symlink, or a whole directory', () => {
    expect(paths(selectForRestore(set, ['/srv/app/sub/b.bin'], 'b'))).toEqual([
      'srv/app/sub/b.bin',
      'srv/',
      'srv/app/',
      'srv/app/sub/',
    ]);
    expect(paths(selectForRestore(set, ['srv/app/current'], 'b'))).toEqual([
      'srv/',
      'srv/app/',
      'srv/app/current/',
    ]);
    expect(paths(selectForRestore(set, ['/srv/app/'], 'b'))).toEqual([
      'srv/app/a.conf',
      'srv/app/sub/b.bin',
      'srv/',
      'srv/app/',
      'srv/app/sub/',
      'srv/app/current/',
    ]);
  });

  it('refuses a path the backup does not hold, and validates the whole list even for one file', () => {
    expect(() => selectForRestore(set, ['/srv/nope'], 'b')).toThrow('not in this backup: srv/nope');
    const crafted = { ...set, files: [...set.files, file('srv/other/c')] };
    expect(() => selectForRestore(crafted, ['/srv/app/a.conf'], 'b')).toThrow(
      /two entries for "srv\/other\/c"/,
    );
  });
});
