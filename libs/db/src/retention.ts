import type { Queryable } from './pool.ts';

/**
 * Sets a backup's retention from what its snapshot found (core's retentionAfterSnapshot), inside
 * the snapshot's transaction: the request row is where every reader (seed entry, expiry) takes
 * retention from, so they all see the upgrade at once. Only a retention the caller left unset is
 * filled in; one the caller chose is never replaced.
 */
export async function upgradeRetention(tx: Queryable, id: string, retention: string): Promise<void> {
  await tx.query(
    `UPDATE backups SET request = jsonb_set(request, '{retention}', to_jsonb($2::text))
     WHERE id = $1 AND NOT request ? 'retention'`,
    [id, retention],
  );
}
