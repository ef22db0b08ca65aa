import { describe, expect, it } from 'vitest';
import type { RestoreFile, RestoreNode, RestoreSet } from './model.ts';
import { assertSafeRestoreSet, UnsafeRestoreSet } from './validate.ts';

const SHA = 'b'.repeat(64);
const attrs = { mode: 0o755, uid: 0, gid: 0, owner: null, group: null, mtimeNs: '1' };
const file = (p: string, extra: Partial<RestoreFile> = {}): RestoreFile => ({
  path: p,
  storedPath: `${p}.bak`,
  size: 1,
  sha256: SHA,
  ...extra,
});
const node = (p: string, extra: Partial<RestoreNode> = {}): RestoreNode => ({
  path: p,
  type: 'dir',
  target: null,
  pathBytes: null,
  targetBytes: null,
  attrs,
  ...extra,
});

function problems(set: Partial<RestoreSet>): string[] {
  try {
    assertSafeRestoreSet({ files: [], nodes: [], ...set }, 'manifest h/k on target t');
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(UnsafeRestoreSet);
    expect((err as Error).message).toMatch(
      /^refusing to restore manifest h\/k on target t: .*nothing was written/,
    );
    return (err as UnsafeRestoreSet).problems;
  }
}

describe('assertSafeRestoreSet', () => {
  it('accepts a clean set with directories, symlinks and raw (non-UTF-8) names', () => {
    expect(
      problems({
        files: [file('srv/a'), file('srv/\\xff', { pathBytes: Buffer.from([0x73, 0x72, 0x76, 0x2f, 0xff]) })],
        nodes: [node('srv'), node('srv/l', { type: 'symlink', target: '../../etc/passwd' }), node('empty')],
      }),
    ).toEqual([]);
  });

  it.each([
    ['two entries for one path', [file('a'), file('a', { storedPath: 'a.config' })], /two entries for "a"/],
    ['a ".." component', [file('srv/../etc/passwd')], /".." component/],
    ['a "." component', [file('srv/./x')], /"\." component/],
    ['an empty component', [file('srv//x')], /empty component/],
    ['an absolute path', [file('/etc/passwd')], /absolute path/],
    ['an empty path', [file('')], /empty path/],
    ['a NUL byte', [file('a\u0000b')], /NUL/],
    ['a newline', [file('srv/x\n/etc')], /control character/],
    ['an escape', [file('srv/\u001b[31m')], /control character/],
    ['a lone surrogate', [file('srv/\ud800x')], /not well-formed Unicode/],
    ['a component past 255 bytes', [file(`a/${'x'.repeat(256)}`)], /longer than 255 bytes/],
    ['NFC twins', [file('caf\u00e9'), file('cafe\u0301')], /one name once Unicode-normalised/],
    ['a negative size', [file('a', { size: -1 })], /not a byte count/],
    ['a fractional size', [file('a', { size: 0.5 })], /not a byte count/],
    ['a malformed hash', [file('a', { sha256: 'zz' })], /sha256/],
    [
      'a malformed key id',
      [file('a', { encrypted: { sha256: SHA, size: 1, keyId: 'a/b' } })],
      /encrypted form/,
    ],
    [
      'one stored path for two files',
      [file('a', { storedPath: 'x' }), file('b', { storedPath: 'x' })],
      /claimed by two/,
    ],
    ['a stored path escaping the backup', [file('a', { storedPath: '../../etc/shadow' })], /stored path/],
    ['a mode past 07777', [file('a', { attrs: { ...attrs, mode: 0o10000 } })], /mode/],
    [
      'a malformed xattr',
      [file('a', { attrs: { ...attrs, xattrs: { 'user.x': '%%' } } })],
      /extended attribute/,
    ],
  ])('refuses %s', (_, files, reason) => {
    expect(problems({ files }).join('\n')).toMatch(reason);
  });

  it('refuses raw bytes that hold a slash-escape or NUL, but lets them carry control characters', () => {
    expect(problems({ files: [file('x', { pathBytes: Buffer.from('a/../b') })] }).join()).toMatch(
      /"\.\." component/,
    );
    expect(problems({ files: [file('x', { pathBytes: Buffer.from([0x61, 0, 0x62]) })] }).join()).toMatch(
      /NUL/,
    );
    expect(problems({ files: [file('a\\n', { pathBytes: Buffer.from('a\n') })] })).toEqual([]);
  });

  it('refuses nodes that collide with files, entries beneath a file or a symlink, and bad targets', () => {
    const all = problems({
      files: [file('srv/a'), file('srv/link/passwd'), file('srv/a/b')],
      nodes: [
        node('srv/a'),
        node('srv/link', { type: 'symlink', target: '/etc' }),
        node('srv/nul', { type: 'symlink', target: 'a\u0000b' }),
        node('srv/none', { type: 'symlink' }),
        node('srv/dir', { target: 'x' }),
      ],
    }).join('\n');
    expect(all).toMatch(/"srv\/a" is listed both as a file and as a directory/);
    expect(all).toMatch(/"srv\/link\/passwd" lies beneath "srv\/link", which is a symlink/);
    expect(all).toMatch(/"srv\/a\/b" lies beneath "srv\/a", which is a file/);
    expect(all).toMatch(/"srv\/nul": its symlink target holds a NUL byte/);
    expect(all).toMatch(/"srv\/none": a symlink without a target/);
    expect(all).toMatch(/"srv\/dir": a directory with a symlink target/);
  });
});
