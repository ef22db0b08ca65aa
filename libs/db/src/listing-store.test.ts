import { systemClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import { type ChainSegment, dropChain, ListingStore } from './listing-store.ts';
import { withTransaction } from './pool.ts';

const services = await serviceUrls();
const HOST = 'chain-store-host';
const seg = (n: number, full = false): ChainSegment => ({
  sha256: n.toString(16).padStart(64, '0'),
  bytes: Buffer.from([n]),
  full,
});

describe.skipIf(!services)('listing chains in Postgres', () => {
  let env: Isolated;
  let backups: BackupStore;
  let listings: ListingStore;

  beforeAll(async () => {
    env = await isolate(services!, 'listing-store');
    backups = new BackupStore(env.pool, systemClock);
    listings = new ListingStore(env.pool);
    await env.pool.query('INSERT INTO hosts (id, first_seen) VALUES ($1, now())', [HOST]);
  });
  afterAll(() => env?.cleanup());

  const create = async () => {
    // Apart in time: the previous chain is the latest earlier backup's.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return (
      await backups.create({
        request: { host: HOST, kind: 'manual', paths: ['/srv'], purpose: 'chains', retention: 'days_7' },
        targets: [{ name: 'second', kind: 'fs', offsite: false }],
        dailyRetentionDays: 30,
      })
    ).backup.id;
  };
  const shas = (chain: ChainSegment[]) => chain.map((s) => s.sha256);

  it('chooses a chain once, whoever asks at the same time, from the latest earlier chain', async () => {
    const a = await create();
    const b = await create();
    const seen: ChainSegment[][] = [];
    // Replicates to three targets settle at once: one chooses, every one gets that chain.
    const chains = await Promise.all(
      [1, 2, 3].map((n) =>
        listings.settle(a, async (previous) => {
          seen.push(previous);
          return [seg(n, true)];
        }),
      ),
    );
    expect(seen).toEqual([[]]);
    expect(new Set(chains.map((c) => shas(c).join()))).toHaveProperty('size', 1);
    const chainA = await listings.chain(a);
    const chainB = await listings.settle(b, async (previous) => [...previous, seg(9)]);
    expect(shas(chainB)).toEqual([...shas(chainA), seg(9).sha256]);
    expect(chainB[0]?.bytes).toEqual(chainA[0]?.bytes);
  });

  it('a segment is needed on a target while a backup not ended, whose copy there stays, lists it', async () => {
    const a = await create();
    const b = await create();
    await listings.settle(a, async () => [seg(20, true), seg(21)]);
    await listings.settle(b, async (previous) => [...previous, seg(22)]);
    const unneeded = async (id: string) => {
      let found: string[] = [];
      await listings.unneededOn(id, 'second', async (s) => {
        found = s;
      });
      return found.sort();
    };
    expect(await unneeded(a)).toEqual([]);
    expect(await unneeded(b)).toEqual([seg(22).sha256]);
    // b's copy on `second` is removed (its backup not ended yet): it needs nothing there any more.
    await env.pool.query(
      "INSERT INTO backup_removals (backup_id, copy, removed_at) VALUES ($1, 'second', now())",
      [b],
    );
    expect(await unneeded(a)).toEqual([seg(20).sha256, seg(21).sha256]);
    // Ending a keeps the segments b still lists; ending b drops the rest.
    await withTransaction(env.pool, (tx) => dropChain(tx, a));
    expect(shas(await listings.chain(b))).toEqual([20, 21, 22].map((n) => seg(n).sha256));
    await withTransaction(env.pool, (tx) => dropChain(tx, b));
    const left = await env.pool.query('SELECT sha256 FROM listing_segments WHERE sha256 = ANY($1::text[])', [
      [20, 21, 22].map((n) => seg(n).sha256),
    ]);
    expect(left.rows).toEqual([]);
  });
});
