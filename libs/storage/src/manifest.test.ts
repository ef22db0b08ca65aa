import { describe, expect, it } from 'vitest';
import { PermanentError } from './errors.ts';
import { MANIFEST_FORMAT, parseManifest } from './manifest.ts';

const SHA = 'a'.repeat(64);
const where = { target: 't', key: '20260101' };
const attrs = { mode: 0o644, uid: 0, gid: 0, owner: 'root', group: 'root', mtimeNs: '1700000000000000000' };

function manifest(extra: Record<string, unknown> = {}, file: Record<string, unknown> = {}) {
  return {
    format: MANIFEST_FORMAT,
    host: 'h',
    kind: 'daily',
    key: '20260101',
    created: '2026-01-01T00:00:00.000Z',
    files: { 'srv/a.bak': { path: 'srv/a', size: 1, sha256: SHA, ...file } },
    entry: {},
    ...extra,
  };
}

const parse = (json: unknown) => parseManifest(Buffer.from(JSON.stringify(json)), where);
const refused = (json: unknown) => expect(() => parse(json)).toThrow(PermanentError);

describe('parseManifest refuses what a crafted manifest could carry', () => {
  it('accepts a well-formed manifest with attributes and nodes', () => {
    const m = parse(
      manifest({
        nodes: {
          srv: { type: 'dir', attrs },
          'srv/l': { type: 'symlink', target: '../x', attrs },
        },
      }),
    );
    expect(Object.keys(m.files)).toEqual(['srv/a.bak']);
  });

  it('two entries under one stored path (a duplicate JSON key)', () => {
    const entry = `{"path":"srv/a","size":1,"sha256":"${SHA}"}`;
    const text = JSON.stringify(manifest()).replace(
      /"files":\{.*?\}\}/,
      `"files":{"srv/a.bak":${entry},"srv/a.bak":{"path":"etc/passwd","size":1,"sha256":"${SHA}"}}`,
    );
    expect(text).toContain('"srv/a.bak":{"path":"etc/passwd"');
    expect(() => parseManifest(Buffer.from(text), where)).toThrow(/"srv\/a\.bak" appears twice in files/);
  });

  it('fields it does not know, at the top and in an entry', () => {
    refused(manifest({ extra: 1 }));
    refused(manifest({}, { mode: 0o777 }));
  });

  it.each([
    ['a negative size', { size: -1 }],
    ['a fractional size', { size: 1.5 }],
    ['a size past 2^53', { size: 2 ** 60 }],
    ['an upper-case hash', { sha256: 'A'.repeat(64) }],
    ['a short hash', { sha256: 'a'.repeat(63) }],
    ['a key id with a slash', { storedSha256: SHA, storedSize: 2, keyId: '../k' }],
    ['half an encrypted form', { storedSha256: SHA }],
    ['pathBytes that are not base64', { pathBytes: '%%%' }],
    ['a uid past 32 bits', { attrs: { ...attrs, uid: 2 ** 32 } }],
    ['a mode past 0o7777', { attrs: { ...attrs, mode: 0o17777 } }],
    ['an mtime that is not a number', { attrs: { ...attrs, mtimeNs: '1e9' } }],
    ['an owner with a newline', { attrs: { ...attrs, owner: 'root\nx' } }],
    ['an xattr name without a namespace', { attrs: { ...attrs, xattrs: { foo: 'AA==' } } }],
  ])('%s', (_, file) => refused(manifest({}, file)));

  it('a symlink without a target, a directory with one, and a target holding NUL', () => {
    refused(manifest({ nodes: { l: { type: 'symlink', attrs } } }));
    refused(manifest({ nodes: { d: { type: 'dir', target: 'x', attrs } } }));
    refused(manifest({ nodes: { l: { type: 'symlink', target: 'a\u0000b', attrs } } }));
  });
});
