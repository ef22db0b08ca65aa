import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonChunks } from './canonical-json.ts';
import { PermanentError } from './errors.ts';
import { blobKey, manifestKey, parseBlobKey, parseManifestKey } from './layout.ts';
import {
  MANIFEST_FORMAT,
  type Manifest,
  manifestChunks,
  parseManifest,
  serializeManifest,
} from './manifest.ts';

const SHA = 'ab'.padEnd(64, '0');
const where = { target: 't', key: 'hosts/h/20240101/manifest.json' };

function manifest(): Manifest {
  return {
    format: MANIFEST_FORMAT,
    host: 'h',
    kind: 'daily',
    key: '20240101',
    created: '2024-01-01T02:00:00.000Z',
    files: {
      'db/app.db': { path: 'db/app.db', size: 10, sha256: SHA },
      'app.config': { path: 'app.config', size: 0, sha256: 'e3'.padEnd(64, '1') },
    },
    entry: { created: '2024-01-01T02:00:00.000Z', status: 'active', verified: false, 20240101: 'x' },
  };
}

describe('layout keys', () => {
  it('places blobs by the first two hex digits', () => {
    expect(blobKey(SHA)).toBe(`blobs/sha256/ab/${SHA}`);
    expect(parseBlobKey(blobKey(SHA))).toBe(SHA);
    expect(parseBlobKey(`blobs/sha256/cd/${SHA}`)).toBeUndefined();
  });

  it('rejects anything but lowercase hex sha256', () => {
    for (const bad of ['', 'AB'.padEnd(64, '0'), SHA.slice(1), `${SHA}0`, '../'.padEnd(64, 'a')]) {
      expect(() => blobKey(bad), bad).toThrow(PermanentError);
    }
  });

  it('builds and parses manifest keys', () => {
    const key = manifestKey('db-1.example.com', '20240101_0930_pre migration');
    expect(key).toBe('hosts/db-1.example.com/20240101_0930_pre migration/manifest.json');
    expect(parseManifestKey(key)).toEqual({
      host: 'db-1.example.com',
      backupKey: '20240101_0930_pre migration',
    });
    expect(parseManifestKey('hosts/h/k/other.json')).toBeUndefined();
  });

  it('rejects hosts and backup keys that are not single segments', () => {
    for (const [host, key] of [
      ['a/b', 'k'],
      ['..', 'k'],
      ['h', ''],
      ['h', 'x/y'],
      ['', 'k'],
    ] as const) {
      expect(() => manifestKey(host, key), `${host} ${key}`).toThrow(PermanentError);
    }
  });
});

describe('manifest serialization', () => {
  it('gives identical bytes for the same manifest built in any key order', () => {
    const a = manifest();
    const b: Manifest = {
      entry: { 20240101: 'x', verified: false, status: 'active', created: '2024-01-01T02:00:00.000Z' },
      files: { 'app.config': a.files['app.config']!, 'db/app.db': a.files['db/app.db']! },
      created: a.created,
      key: a.key,
      kind: a.kind,
      host: a.host,
      format: a.format,
    };
    expect(serializeManifest(a, where).equals(serializeManifest(b, where))).toBe(true);
  });

  it('sorts keys by bytes, integer-like keys included', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: null, c: 'x' }], 10: true, 9: false })).toBe(
      '{\n  "10": true,\n  "9": false,\n  "a": [\n    1,\n    {\n      "c": "x",\n      "d": null\n    }\n  ],\n  "b": 1\n}\n',
    );
  });

  it("writes JSON.stringify's text, with what JSON leaves out left out, and nulls in arrays", () => {
    const value = {
      a: [undefined, () => 1, { toJSON: () => undefined }, new Date(0)],
      b: undefined,
      c: { d: {} },
    };
    const sorted = { a: [null, null, null, '1970-01-01T00:00:00.000Z'], c: { d: {} } };
    expect(canonicalJson(value)).toBe(`${JSON.stringify(sorted, null, 2)}\n`);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson({ a: [1n] })).toThrow('$.a[0]: bigint has no JSON form');
  });

  it('streams a large manifest in bounded chunks that make exactly its canonical bytes', () => {
    const big = manifest();
    for (let i = 0; i < 20_000; i++)
      big.files[`srv/d${i % 97}/f${i}.bak`] = { path: `srv/d${i % 97}/f${i}`, size: i, sha256: SHA };
    const chunks = [...manifestChunks(big)];
    expect(chunks.length).toBeGreaterThan(20);
    for (const c of chunks) expect(c.length).toBeLessThan(128 * 1024);
    const whole = Buffer.concat(chunks);
    expect(whole.equals(Buffer.from(canonicalJson(big)))).toBe(true);
    expect([...canonicalJsonChunks(big)].join('')).toBe(whole.toString());
    expect(parseManifest(whole, where)).toEqual(big);
  });

  it('names the bad entry of a large manifest, wherever it is', () => {
    const big = manifest();
    for (let i = 0; i < 5000; i++) big.files[`f${i}`] = { path: `f${i}`, size: i, sha256: SHA };
    big.files.f4321 = { path: 'f4321', size: -1, sha256: SHA };
    expect(() => serializeManifest(big, where)).toThrow(/files\.f4321\.size/);
  });

  it('round-trips through parseManifest', () => {
    const bytes = serializeManifest(manifest(), where);
    expect(parseManifest(bytes, where)).toEqual(manifest());
  });

  it('refuses invalid manifests and reports corrupt bytes', () => {
    const bad = { ...manifest(), kind: 'weekly' } as unknown as Manifest;
    expect(() => serializeManifest(bad, where)).toThrow(PermanentError);
    expect(() => parseManifest(Buffer.from('{not json'), where)).toThrow(/not JSON/);
    expect(() => parseManifest(Buffer.from('{"format":"other"}'), where)).toThrow(PermanentError);
  });
});
