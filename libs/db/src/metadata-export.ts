import {
  type BackupKind,
  emptyHostMetadata,
  type FleetMetadata,
  type HostMetadata,
  hostMetadataSchema,
  type MetadataEntry,
  SECTION,
} from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/** The seed-format document for one host, from the JSONB mirrors. */
export async function hostMetadata(q: Queryable, host: string): Promise<HostMetadata> {
  const doc = emptyHostMetadata();
  // Backups marked to expire or retire leave the document before any of their copies is removed.
  const r = await q.query(
    `SELECT kind, key, entry FROM backups b WHERE host = $1 AND ${SQL_KEPT} ORDER BY key`,
    [host],
  );
  for (const row of r.rows as { kind: BackupKind; key: string; entry: MetadataEntry }[]) {
    (doc[SECTION[row.kind]] as Record<string, MetadataEntry>)[row.key] = {
      ...row.entry,
      files: sortedFiles(row.entry.files),
    };
  }
  // JSONB forgets key order; parsing through the strict schema restores the seed's field order
  // and proves the document has exactly the seed's fields.
  return hostMetadataSchema.parse(doc);
}

function sortedFiles<T>(files: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `{ hosts: { <host>: <per-host document> } }` for every known host. */
export async function fleetMetadata(q: Queryable): Promise<FleetMetadata> {
  const hosts = await q.query<{ id: string }>('SELECT id FROM hosts ORDER BY id');
  const out: FleetMetadata = { hosts: {} };
  for (const { id } of hosts.rows) out.hosts[id] = await hostMetadata(q, id);
  return out;
}
