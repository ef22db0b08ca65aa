import {
  type BackupKind,
  dailyEntrySchema,
  type MetadataEntry,
  manualEntrySchema,
  preChangeEntrySchema,
  SECTION,
} from '@fleet-backup/core';
import type pg from 'pg';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/** Runs `sql` and hands its rows over a page at a time. */
export type RowSource = (sql: string, params: unknown[]) => AsyncIterable<Record<string, unknown>[]>;

const PAGE = 2_000;
// Chunks handed to the writer are about this big: few writes, memory bounded.
const CHUNK = 64 * 1024;

/**
 * Rows through a server-side cursor, PAGE at a time: memory stays bounded whatever the number of
 * files. `tx` must be inside a transaction (see withReadSnapshot).
 */
export function cursorRows(tx: pg.PoolClient): RowSource {
  let n = 0;
  return async function* (sql, params) {
    const name = `metadata_${++n}`;
    await tx.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, params);
    try {
      for (;;) {
        const r = await tx.query(`FETCH ${PAGE} FROM ${name}`);
        if (r.rows.length) yield r.rows;
        if (r.rows.length < PAGE) return;
      }
    } finally {
      await tx.query(`CLOSE ${name}`);
    }
  };
}

/** Rows of one plain query, all at once (for callers holding a connection outside a transaction). */
export function wholeRows(q: Queryable): RowSource {
  return async function* (sql, params) {
    yield (await q.query(sql, params)).rows;
  };
}

/**
 * The order JSON.stringify gives an object's keys: canonical array indexes (0 … 2^32-2) first,
 * by value, then the rest in insertion order, which the export makes code-point order. (JS sorts
 * strings by UTF-16 unit, which differs from code-point order only between characters above
 * U+FFFF and those in U+E000–U+FFFF.)
 */
export const INDEX_KEY = (col: string) =>
  `CASE WHEN ${col} ~ '^(0|[1-9][0-9]{0,9})$' THEN CASE WHEN ${col}::bigint <= 4294967294 THEN ${col}::bigint END END`;

const BACKUPS_SQL = `SELECT b.id, b.kind, b.key, b.entry FROM backups b WHERE b.host = $1 AND ${SQL_KEPT} ORDER BY b.key`;
const FILES_SQL = `SELECT f.path, f.size, f.sha256, f.class, f.has_wal FROM backup_files f WHERE f.backup_id = $1
  ORDER BY ${INDEX_KEY('f.path')} NULLS LAST, f.path COLLATE "C"`;

const ENTRY_SCHEMA = { daily: dailyEntrySchema, pre_change: preChangeEntrySchema, manual: manualEntrySchema };

/**
 * One host's backup_metadata.json, as the text `JSON.stringify(doc, null, 2)` gives for it,
 * streamed in chunks: entries come from the backups' stored (file-less) entries, the file maps
 * from the catalog, a page of files at a time. Every line after the first is prefixed with
 * `indent` (a host document nested in the fleet's). No trailing newline.
 */
export async function* hostMetadataChunks(
  rows: RowSource,
  host: string,
  indent = '',
): AsyncGenerator<string> {
  const backups: { id: string; kind: BackupKind; key: string; entry: MetadataEntry }[] = [];
  // The backups of a host are few (hundreds); their files are streamed below.
  for await (const page of rows(BACKUPS_SQL, [host])) backups.push(...(page as typeof backups));
  let out = '{';
  const sections = ['daily', 'pre_change', 'manual'] as const;
  for (const [i, section] of sections.entries()) {
    const inSection = backups.filter((b) => SECTION[b.kind] === section);
    // JS puts canonical-index keys (every daily key) first, numerically: for 8 digits, as sorted.
    out += `\n${indent}  ${JSON.stringify(section)}: {`;
    for (const [j, b] of inSection.entries()) {
      out += `\n${indent}    ${JSON.stringify(b.key)}: `;
      const [head, tail] = entryParts(b.kind, b.entry, `${indent}    `);
      out += head;
      let first = true;
      for await (const page of rows(FILES_SQL, [b.id])) {
        for (const f of page) {
          out += `${first ? '' : ','}\n${fileText(f, `${indent}        `)}`;
          first = false;
        }
        if (out.length >= CHUNK) {
          yield out;
          out = '';
        }
      }
      out += first ? '}' : `\n${indent}      }`;
      out += tail;
      if (j < inSection.length - 1) out += ',';
    }
    out += inSection.length ? `\n${indent}  }` : '}';
    if (i < sections.length - 1) out += ',';
  }
  out += `\n${indent}}`;
  yield out;
}

/**
 * The entry's text split where its files go: `head` ends with `"files": {`, `tail` starts right
 * after the map's closing brace. The strict schema gives the seed's field order.
 */
function entryParts(kind: BackupKind, entry: MetadataEntry, indent: string): [string, string] {
  const parsed = ENTRY_SCHEMA[kind].parse({ ...entry, files: {} });
  const text = JSON.stringify(parsed, null, 2).replaceAll('\n', `\n${indent}`);
  const marker = `\n${indent}  "files": {}`;
  const at = text.indexOf(marker);
  return [text.slice(0, at + marker.length - 1), text.slice(at + marker.length)];
}

function fileText(f: Record<string, unknown>, indent: string): string {
  const wal = f.class === 'database' ? `,\n${indent}  "has_wal": ${f.has_wal ?? false}` : '';
  return `${indent}${JSON.stringify(f.path)}: {\n${indent}  "size": ${Number(f.size)},\n${indent}  "hash": ${JSON.stringify(f.sha256)}${wal}\n${indent}}`;
}

/**
 * A digest of everything the host's backup_metadata.json shows: which backups are in it and the
 * seed_seq each had when last changed (bumped by a trigger with any seed-visible change, and by
 * every saved snapshot). Equal digests, equal documents.
 */
export async function seedVersion(q: Queryable, host: string): Promise<string> {
  const r = await q.query<{ v: string }>(
    `SELECT md5(COALESCE(string_agg(b.id::text || ':' || b.seed_seq, ',' ORDER BY b.id), '')) AS v
     FROM backups b WHERE b.host = $1 AND ${SQL_KEPT}`,
    [host],
  );
  return r.rows[0]?.v ?? '';
}
