import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { LOCAL_COPY } from '@fleet-backup/core';
import {
  type BlobChunk,
  type ChunkedPlaces,
  ChunkLists,
  CopyChecks,
  type PackedPlace,
} from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { blobKey, chunkStream, cutAt, IntegrityError, type StorageTarget } from '@fleet-backup/storage';
import { replaceBadBlob } from '../recheck/replace-blob.ts';
import type { Packer, Presence } from './replicate-packs.ts';

/** What a replicate shares while it sends one target its blobs. */
export interface SendContext {
  rt: Runtime;
  target: StorageTarget;
  packer: Packer;
  presence: Presence;
  signal: AbortSignal;
}

const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Sends a large file's blob as content-defined chunks (FastCDC, about 128 KiB), each a blob in a
 * pack, so a file that changed a little sends little more than what changed. A file whose every
 * chunk the target holds is not even read. Otherwise the stored copy is read once: cut, each
 * chunk the target lacks (or holds bad) packed, the whole checked against the file's sha256, and
 * the chunk list recorded. The list is the same for every target: the next target's replicate
 * cuts the file where it says, without the gear hash, and checks each piece against it. Returns
 * the bytes sent.
 */
export async function sendChunked(
  ctx: SendContext,
  file: { sha256: string; size: number },
  place: PackedPlace | ChunkedPlaces | null | undefined,
  open: () => Readable,
): Promise<number> {
  if (place && 'chunks' in place && (await holdsEvery(ctx, place))) return 0;
  const lists = new ChunkLists(ctx.rt.pool);
  // Cut for another target already: the same cuts, each piece checked against its recorded
  // sha256, which together stand for the file's (checked whole when the list was recorded).
  const known = (await lists.of([file.sha256])).get(file.sha256);
  const whole = known ? null : createHash('sha256');
  const chunks: BlobChunk[] = [];
  let offset = 0;
  let sent = 0;
  const notTheFile = (actual: string) =>
    new IntegrityError(ctx.target.name, blobKey(file.sha256), file.sha256, actual);
  // Chunks wait in a window so one lookup covers many: a 1 GiB file is about 8,000 chunks, and
  // four queries each cost more CPU (in pg's socket writes) than cutting and hashing them.
  let window: WindowedChunk[] = [];
  let windowBytes = 0;
  for await (const bytes of known
    ? cutAt(
        open(),
        known.map((c) => c.size),
      )
    : chunkStream(open())) {
    ctx.signal.throwIfAborted();
    whole?.update(bytes);
    const chunk = { sha256: sha256Of(bytes), offset, size: bytes.length };
    const recorded = known?.[chunks.length];
    if (known && (recorded?.sha256 !== chunk.sha256 || recorded.size !== chunk.size))
      throw notTheFile(`chunk ${chunks.length} of ${known.length} hashing to ${chunk.sha256}`);
    chunks.push(chunk);
    offset += bytes.length;
    window.push({ chunk, bytes });
    windowBytes += bytes.length;
    if (windowBytes < WINDOW_BYTES) continue;
    sent += await sendWindow(ctx, window);
    window = [];
    windowBytes = 0;
  }
  sent += await sendWindow(ctx, window);
  if (known) {
    if (chunks.length !== known.length || offset !== file.size)
      throw notTheFile(`${chunks.length} of ${known.length} chunks, ${offset} bytes`);
    return sent;
  }
  const actual = (whole as ReturnType<typeof createHash>).digest('hex');
  if (actual !== file.sha256 || offset !== file.size) throw notTheFile(actual);
  await lists.record(file.sha256, chunks);
  return sent;
}

async function holdsEvery(ctx: SendContext, place: ChunkedPlaces): Promise<boolean> {
  const bad = await new CopyChecks(ctx.rt.pool, ctx.rt.clock).badAmong(
    ctx.target.name,
    place.chunks.map((c) => c.sha256),
  );
  if (bad.size) return false;
  for (const c of place.chunks)
    if (!(await ctx.presence.holds({ sha256: c.sha256, size: c.length }, c.place))) return false;
  return true;
}

interface WindowedChunk {
  chunk: { sha256: string; size: number };
  bytes: Buffer;
}

/** Chunk bytes held while a window's chunks are looked up together: 16 MiB over 8 lanes at most. */
const WINDOW_BYTES = 2 << 20;

/**
 * Packs the window's chunks the target lacks, and replaces first from these bytes any it holds
 * bad. A chunk seen twice in the window is sent once. Returns the bytes sent.
 */
async function sendWindow(ctx: SendContext, window: WindowedChunk[]): Promise<number> {
  const { rt, target } = ctx;
  // A chunk seen twice in the window has the same bytes both times: one entry is enough.
  const unique = new Map(window.map((w) => [w.chunk.sha256, w]));
  const shas = [...unique.keys()];
  if (!shas.length) return 0;
  const bad = await new CopyChecks(rt.pool, rt.clock).badAmong(target.name, shas);
  const places = await rt.blobs.places(target.name, shas);
  let sent = 0;
  for (const { chunk, bytes } of unique.values()) {
    if (bad.has(chunk.sha256)) {
      const source = { name: LOCAL_COPY, open: async () => Readable.from([bytes]) };
      await replaceBadBlob(rt, target, chunk, source, ctx.signal);
      continue;
    }
    const place = places.get(chunk.sha256);
    if (
      place !== undefined &&
      (place === null || !('chunks' in place)) &&
      (await ctx.presence.holds(chunk, place))
    )
      continue;
    if (await ctx.packer.add(chunk.sha256, bytes)) sent += bytes.length;
  }
  return sent;
}
