import { describe, expect, it } from 'vitest';
import { type ListQuery, listPage } from './list.ts';
import { compareNames } from './store.ts';

const names = ['a', 'a.txt', 'a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c', '\u{1F600}', '\uFF01'].sort(
  compareNames,
);

function query(over: Partial<ListQuery>): ListQuery {
  return {
    prefix: '',
    delimiter: undefined,
    maxResults: 1000,
    pageToken: undefined,
    startOffset: undefined,
    endOffset: undefined,
    includeTrailingDelimiter: false,
    ...over,
  };
}

function all(q: Partial<ListQuery>): { names: string[]; prefixes: string[]; pages: number } {
  const out = { names: [] as string[], prefixes: [] as string[], pages: 0 };
  let pageToken: string | undefined;
  do {
    const page = listPage(names, query({ ...q, pageToken }));
    out.names.push(...page.names);
    out.prefixes.push(...page.prefixes);
    out.pages++;
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

describe('listPage', () => {
  it('orders by UTF-8 bytes (U+FF01 before U+1F600), unlike UTF-16 sort', () => {
    expect(names.slice(-2)).toEqual(['\uFF01', '\u{1F600}']);
  });

  it('pages through everything exactly once for every page size', () => {
    for (let size = 1; size <= 11; size++) {
      const got = all({ maxResults: size });
      expect(got.names).toEqual(names);
      expect(got.pages).toBe(Math.max(1, Math.ceil(names.length / size)));
    }
  });

  it('rolls names up into prefixes with a delimiter, counting each prefix once across pages', () => {
    for (let size = 1; size <= 6; size++) {
      const got = all({ delimiter: '/', maxResults: size });
      expect(got.names).toEqual(['a', 'a.txt', 'c', '\uFF01', '\u{1F600}']);
      expect(got.prefixes).toEqual(['a/', 'b/']);
    }
  });

  it('honours prefix, startOffset and endOffset', () => {
    expect(all({ prefix: 'a/' }).names).toEqual(['a/1', 'a/2', 'a/3']);
    expect(all({ startOffset: 'a/2', endOffset: 'b/2' }).names).toEqual(['a/2', 'a/3', 'b/1']);
  });
});
