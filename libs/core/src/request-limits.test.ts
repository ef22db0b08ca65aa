import { describe, expect, it } from 'vitest';
import { preChangeJobSchema, preChangeRequestSchema } from './pre-change.ts';
import { backupRequestSchema, describeIssues } from './request.ts';
import { MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PATHS, unprintable } from './text.ts';

const base = { host: 'db-01', paths: ['/srv/db'], description: 'Before v2', change_ticket: 'CHG-42' };
const ID = '6f1c1c36-1d5e-4c8f-9a53-0d5d3c7a1b2e';

/** The one-line reason a pre-change request is refused, or null when it is accepted. */
function refusal(body: unknown): string | null {
  const parsed = preChangeRequestSchema.safeParse(body);
  return parsed.success ? null : describeIssues(parsed.error);
}

describe('request limits and characters (issue 10: bad input)', () => {
  it('refuses control characters (C0, DEL, C1) in paths, descriptions, tickets and names, naming the field', () => {
    expect(refusal({ ...base, paths: ['/srv/x\n/etc'] })).toMatch(
      /^paths\.0: path contains the control character U\+000A/,
    );
    expect(refusal({ ...base, paths: ['/srv/a\u007fb'] })).toMatch(/paths\.0: .*U\+007F/);
    expect(refusal({ ...base, paths: ['/srv/a\u0085b'] })).toMatch(/paths\.0: .*U\+0085/);
    expect(refusal({ ...base, paths: ['/srv/a\u0000b'] })).toMatch(/paths\.0: .*U\+0000/);
    expect(refusal({ ...base, description: 'before\r\nafter' })).toMatch(/^description: .*U\+000D/);
    expect(refusal({ ...base, change_ticket: 'CHG\u001b[31m' })).toMatch(/^change_ticket: .*U\+001B/);
    expect(refusal({ ...base, change_ticket: 'CHG-\ud800' })).toMatch(
      /^change_ticket: .*lone UTF-16 surrogate/,
    );
    const manual = {
      host: 'h',
      kind: 'manual',
      paths: ['/srv'],
      purpose: 'p',
      retention: 'permanent',
      creator: 'al\tice',
    };
    expect(describeIssues(backupRequestSchema.safeParse(manual).error!)).toMatch(/^creator: .*U\+0009/);
    // Notes may span lines, but carry no other control character.
    expect(backupRequestSchema.safeParse({ ...manual, creator: 'alice', notes: 'a\n\tb' }).success).toBe(
      true,
    );
    expect(backupRequestSchema.safeParse({ ...manual, creator: 'alice', notes: 'a\u0007' }).success).toBe(
      false,
    );
  });

  it('accepts printable unicode', () => {
    expect(refusal({ ...base, paths: ['/srv/données/日本語 ü'], description: 'Avant la v2 — ✓' })).toBeNull();
    expect(unprintable('emoji 🙂 fine')).toBeNull();
  });

  it('limits the number of paths, the bytes of a path (PATH_MAX) and of each name (NAME_MAX)', () => {
    const many = Array.from({ length: MAX_PATHS + 1 }, (_, i) => `/srv/p${i}`);
    expect(refusal({ ...base, paths: many })).toMatch(/^paths: at most 100 paths per request/);
    expect(refusal({ ...base, paths: many.slice(0, MAX_PATHS) })).toBeNull();

    const name = 'n'.repeat(MAX_NAME_BYTES);
    expect(refusal({ ...base, paths: [`/srv/${name}`] })).toBeNull();
    expect(refusal({ ...base, paths: [`/srv/${name}n`] })).toMatch(/a component of 256 bytes.*NAME_MAX/);
    // Multi-byte: 128 two-byte characters are 256 bytes, one over.
    expect(refusal({ ...base, paths: [`/srv/${'é'.repeat(128)}`] })).toMatch(/256 bytes.*NAME_MAX/);

    const deep = (bytes: number) => `/${'d'.repeat(200)}`.repeat(Math.ceil(bytes / 201)).slice(0, bytes);
    expect(Buffer.byteLength(deep(MAX_PATH_BYTES))).toBe(MAX_PATH_BYTES);
    expect(refusal({ ...base, paths: [deep(MAX_PATH_BYTES)] })).toBeNull();
    expect(refusal({ ...base, paths: [deep(MAX_PATH_BYTES + 1)] })).toMatch(
      /at most 4095 bytes \(PATH_MAX\)/,
    );
    // Fewer characters than bytes: 2,100 characters of 2 bytes each.
    const wide = `/${'é'.repeat(100)}`.repeat(21);
    expect(refusal({ ...base, paths: [wide] })).toMatch(
      /path is 4221 bytes long; a path holds at most 4095 \(PATH_MAX\)/,
    );
    // A 900 KB path is refused on its length, with one message.
    expect(refusal({ ...base, paths: [`/${'x'.repeat(900_000)}`] })).toBe(
      'paths.0: a path holds at most 4095 bytes (PATH_MAX)',
    );
  });

  it('is strict: unknown fields at any depth, wrong types and no coercion', () => {
    expect(refusal({ ...base, extra: 1 })).toMatch(/Unrecognized key: "extra"/);
    expect(
      refusal(
        JSON.parse(
          `{"host":"db-01","paths":["/srv/db"],"description":"d","change_ticket":"t","__proto__":{"x":1}}`,
        ),
      ),
    ).toMatch(/__proto__/);
    expect(refusal({ ...base, migration: 'true' })).toMatch(/^migration: /);
    expect(refusal({ ...base, paths: '/srv/db' })).toMatch(/^paths: /);
    expect(refusal({ ...base, paths: [['/srv/db']] })).toMatch(/^paths\.0: /);
    expect(refusal({ ...base, paths: [42] })).toMatch(/^paths\.0: /);
    expect(refusal({ ...base, host: ['db-01'] })).toMatch(/^host: /);
    expect(refusal({ ...base, retention: null })).toMatch(/^retention: /);
    const scoped = {
      host: 'h',
      kind: 'daily',
      paths: ['/srv'],
      scope: { token: 't', pathPrefixes: ['/srv'], x: 1 },
    };
    expect(describeIssues(backupRequestSchema.safeParse(scoped).error!)).toMatch(
      /^scope: Unrecognized key: "x"/,
    );
  });

  it('takes a chosen id as a lowercase random uuid, never a placeholder', () => {
    expect(preChangeRequestSchema.parse({ ...base, id: ID.toUpperCase() }).id).toBe(ID);
    expect(refusal({ ...base, id: '00000000-0000-0000-0000-000000000000' })).toMatch(/^id: .*placeholders/);
    expect(refusal({ ...base, id: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF' })).toMatch(/^id: .*placeholders/);
    expect(refusal({ ...base, id: `${ID} ` })).toMatch(/^id: /);
    expect(preChangeJobSchema.parse({ ...base, id: ID }).id).toBe(ID);
    expect(preChangeJobSchema.safeParse({ ...base, paths: ['/srv/x\n/etc'], id: ID }).success).toBe(false);
  });
});
