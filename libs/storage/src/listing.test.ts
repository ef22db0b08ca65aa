import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PermanentError } from './errors.ts';
import {
  applySegments,
  deltaSegment,
  fullSegment,
  LISTING_FORMAT,
  type Listing,
  parseSegment,
  storedSegment,
} from './listing.ts';
import { MANIFEST_FORMAT, parseManifest } from './manifest.ts';

const sha = (c: string) => c.repeat(64);
const attrs = { mode: 0o644, uid: 0, gid: 0, owner: 'root', group: 'root', mtimeNs: '1' };
const where = { target: 't', key: 'k' };
const file = (p: string, c: string) => ({ path: p, size: 1, sha256: sha(c) });

const day1: Listing = {
  files: { 'srv/a': file('srv/a', 'a'), 'srv/b': file('srv/b', 'b'), 'srv/c': file('srv/c', 'c') },
  nodes: { srv: { type: 'dir', attrs }, 'srv/l': { type: 'symlink', target: 'a', attrs } },
};
const day2: Listing = {
  files: { 'srv/a': file('srv/a', 'a'), 'srv/b': file('srv/b', 'd'), 'srv/e': file('srv/e', 'e') },
  nodes: { srv: { type: 'dir', attrs: { ...attrs, mode: 0o700 } } },
};

/** A segment as read back: stored, then parsed under its sha256. */
const roundTrip = async (segment: ReturnType<typeof fullSegment>) => {
  const { bytes, sha256 } = await storedSegment(segment);
  return parseSegment(bytes, sha256, where);
};

describe('listing segments', () => {
  it('a full listing and the changes since give the later listing back, byte for byte', async () => {
    const delta = deltaSegment(day1, day2);
    expect(delta).toEqual({
      format: LISTING_FORMAT,
      files: { 'srv/b': file('srv/b', 'd'), 'srv/e': file('srv/e', 'e') },
      nodes: { srv: day2.nodes.srv },
      removedFiles: ['srv/c'],
      removedNodes: ['srv/l'],
    });
    const listing = applySegments([await roundTrip(fullSegment(day1)), await roundTrip(delta)], where);
    expect(listing).toEqual(day2);
    // Nothing changed: nothing to store.
    expect(deltaSegment(day2, day2)).toMatchObject({
      files: {},
      nodes: {},
      removedFiles: [],
      removedNodes: [],
    });
  });

  it('stores the same segment as the same bytes, named by their sha256', async () => {
    const a = await storedSegment(fullSegment(day1));
    const b = await storedSegment(fullSegment({ files: { ...day1.files }, nodes: { ...day1.nodes } }));
    expect(a).toEqual(b);
    expect(a.bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('refuses a chain that is not a full listing and its changes', () => {
    const delta = deltaSegment(day1, day2);
    expect(() => applySegments([], where)).toThrow(/no listing segment/);
    expect(() => applySegments([delta], where)).toThrow(/not a full listing/);
    // A removal of what is not listed: the chain is out of order, or crafted.
    expect(() => applySegments([fullSegment(day2), delta], where)).toThrow(/removes srv\/c, not listed/);
    const twice = { ...delta, removedFiles: ['srv/c', 'srv/c'] };
    expect(() => applySegments([fullSegment(day1), twice], where)).toThrow(PermanentError);
  });

  it('refuses a segment whose bytes are not its name, or that is not a valid segment', async () => {
    const { bytes, sha256 } = await storedSegment(fullSegment(day1));
    const flipped = Buffer.from(bytes);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    expect(() => parseSegment(flipped, sha256, where)).toThrow(/holds other bytes/);
    const crafted = (text: string) => {
      const b = gzipSync(Buffer.from(text));
      return () => parseSegment(b, createHash('sha256').update(b).digest('hex'), where);
    };
    const body = { format: LISTING_FORMAT, files: {}, nodes: {}, removedFiles: [], removedNodes: [] };
    expect(crafted(JSON.stringify({ ...body, extra: 1 }))).toThrow(/invalid listing segment/);
    expect(crafted('{"files": {}, "files": {}}')).toThrow(/appears twice/);
    expect(crafted('not json')).toThrow(/not JSON/);
    expect(crafted(JSON.stringify(body))).not.toThrow();
  });

  it('a manifest with a listing holds no files or nodes of its own', () => {
    const head = {
      format: MANIFEST_FORMAT,
      host: 'h',
      kind: 'daily',
      key: '20260101',
      created: '2026-01-01T00:00:00.000Z',
      entry: {},
    };
    const parse = (m: object) => parseManifest(Buffer.from(JSON.stringify(m)), where);
    expect(parse({ ...head, files: {}, listing: [sha('a')] }).listing).toEqual([sha('a')]);
    expect(() => parse({ ...head, files: day1.files, listing: [sha('a')] })).toThrow(/no files or nodes/);
    expect(() => parse({ ...head, files: {}, nodes: {}, listing: [sha('a')] })).toThrow(/no files or nodes/);
    expect(() => parse({ ...head, files: {}, listing: [] })).toThrow(PermanentError);
    expect(() => parse({ ...head, files: {}, listing: Array(65).fill(sha('a')) })).toThrow(PermanentError);
  });
});
