import { type FleetMetadata, type HostMetadata, hostMetadataSchema } from '@fleet-backup/core';
import pg from 'pg';
import { withClient } from './checkout.ts';
import { cursorRows, hostMetadataChunks, INDEX_KEY, type RowSource, wholeRows } from './metadata-stream.ts';
import type { Pool, Queryable } from './pool.ts';

/**
 * Runs fn over one consistent read-only snapshot of the database (REPEATABLE READ), with rows
 * streamed through cursors. A client that is not a pool is used as it is, its rows fetched whole.
 */
export async function withReadSnapshot<T>(
  q: Queryable,
  fn: (rows: RowSource, q: Queryable) => Promise<T>,
): Promise<T> {
  if (!(q instanceof pg.Pool)) return fn(wholeRows(q), q);
  return withClient(q, 'a metadata export', async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const result = await fn(cursorRows(client), client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

/**
 * The fleet's document, `{ "hosts": { <host>: <per-host document> } }`, as JSON.stringify(doc,
 * null, 2) writes it, streamed. No trailing newline.
 */
export async function* fleetMetadataChunks(rows: RowSource, q: Queryable): AsyncGenerator<string> {
  const hosts = (
    await q.query<{ id: string }>(`SELECT id FROM hosts ORDER BY ${INDEX_KEY('id')} NULLS LAST, id`)
  ).rows.map((r) => r.id);
  if (hosts.length === 0) {
    yield '{\n  "hosts": {}\n}';
    return;
  }
  yield '{\n  "hosts": {';
  for (const [i, host] of hosts.entries()) {
    yield `\n    ${JSON.stringify(host)}: `;
    yield* hostMetadataChunks(rows, host, '    ');
    if (i < hosts.length - 1) yield ',';
  }
  yield '\n  }\n}';
}

async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
}

/** The seed-format document for one host, in memory (the API; files go through hostMetadataChunks). */
export async function hostMetadata(q: Queryable, host: string): Promise<HostMetadata> {
  const text = await withReadSnapshot(q, (rows) => collect(hostMetadataChunks(rows, host)));
  // Parsing through the strict schema proves the document has exactly the seed's fields.
  return hostMetadataSchema.parse(JSON.parse(text));
}

/** `{ hosts: { <host>: <per-host document> } }` for every known host, in memory. */
export async function fleetMetadata(q: Queryable | Pool): Promise<FleetMetadata> {
  const text = await withReadSnapshot(q, (rows, tx) => collect(fleetMetadataChunks(rows, tx)));
  const doc = JSON.parse(text) as { hosts: Record<string, unknown> };
  const out: FleetMetadata = { hosts: {} };
  for (const [host, hostDoc] of Object.entries(doc.hosts))
    out.hosts[host] = hostMetadataSchema.parse(hostDoc);
  return out;
}
