import { Readable } from 'node:stream';
import {
  type BlobPlace,
  type ByteRange,
  type PackPlace,
  packKey,
  parsePackKey,
  type ReadOnlyTarget,
} from '@fleet-backup/storage';

/** From this many wanted blobs on, a restore fetches a pack whole, once, rather than a range per blob. */
const WHOLE_PACK_FROM = 8;
/** Packs held at once (16 MiB each by default); past that, blobs are read as ranges. */
const MAX_HELD = 4;
/** The next pack is fetched while this many or fewer are held: the one being read, so two at most. */
const PREFETCH_WHILE_HELD = 1;

/**
 * Serves a restore's blobs from packs fetched whole: a pack many wanted blobs live in is read in
 * one request, held while its blobs are still to come, and dropped after the last (restic's
 * restorer reads each pack once the same way). The bytes are checked by the restore as they land.
 */
export class PackCache {
  private readonly target: ReadOnlyTarget;
  /** Blobs still to be served from each pack worth fetching whole. */
  private readonly remaining = new Map<string, number>();
  private readonly held = new Map<string, Promise<Pieces>>();
  /** The packs worth fetching whole, in the order the restore will read them, and each one's place there. */
  private readonly order: string[] = [];
  private readonly position = new Map<string, number>();

  /** `wanted`: the places of the blobs to restore, in the order they will be read. */
  constructor(target: ReadOnlyTarget, wanted: Iterable<BlobPlace | null | undefined>) {
    this.target = target;
    const counts = new Map<string, number>();
    for (const place of wanted)
      for (const p of packPlaces(place)) counts.set(p.pack, (counts.get(p.pack) ?? 0) + 1);
    for (const [pack, n] of counts)
      if (n >= WHOLE_PACK_FROM) {
        this.remaining.set(pack, n);
        this.position.set(pack, this.order.length);
        this.order.push(pack);
      }
  }

  /** The target as a restore reads it: a range of a pack worth fetching whole comes from the whole. */
  view(): ReadOnlyTarget {
    const { target } = this;
    return {
      name: target.name,
      kind: target.kind,
      offsite: target.offsite,
      location: target.location,
      get: async (key, range, signal) => {
        const pack = parsePackKey(key);
        const fromWhole = pack !== undefined && range ? await this.slice(pack, range) : undefined;
        return fromWhole ?? target.get(key, range, signal);
      },
      head: (key) => target.head(key),
      list: (prefix, opts) => target.list(prefix, opts),
    };
  }

  /** A range of a pack fetched whole, or undefined when it is better read as a range. */
  private async slice(pack: string, range: ByteRange): Promise<Readable | undefined> {
    const left = this.remaining.get(pack);
    if (left === undefined) return undefined;
    let whole = this.held.get(pack);
    if (!whole) {
      if (this.held.size >= MAX_HELD) return undefined;
      whole = this.hold(pack);
    }
    this.prefetchAfter(pack);
    // Counted before the wait: files are restored in parallel, and each must see the others' counts.
    if (left <= 1) {
      this.remaining.delete(pack);
      this.held.delete(pack);
    } else this.remaining.set(pack, left - 1);
    const pieces = await whole.catch(() => undefined);
    const end = (range.end ?? range.start) + 1;
    // A pack that could not be fetched whole: the range read says why, for this blob.
    if (!pieces || end > pieces.size) return undefined;
    return Readable.from(pieces.slice(range.start, end));
  }

  private hold(pack: string): Promise<Pieces> {
    const whole = this.fetch(pack);
    whole.catch(() => {}); // a failed fetch is met by the reads of its blobs, as ranges
    this.held.set(pack, whole);
    return whole;
  }

  /** Starts fetching the pack read after `pack` while this one is being read (restic's restorer, too, keeps packs in flight). */
  private prefetchAfter(pack: string): void {
    if (this.held.size > PREFETCH_WHILE_HELD) return;
    // Usually the very next: packs are read in order, so this stays short for a restore of any size.
    for (let i = (this.position.get(pack) ?? this.order.length) + 1; i < this.order.length; i++) {
      const next = this.order[i] as string;
      if (!this.remaining.has(next) || this.held.has(next)) continue;
      this.hold(next);
      return;
    }
  }

  private async fetch(pack: string): Promise<Pieces> {
    const pieces = new Pieces();
    for await (const piece of await this.target.get(packKey(pack))) pieces.push(piece as Buffer);
    return pieces;
  }
}

/**
 * A pack's bytes as they arrived, never joined: copying each 16 MiB pack into one Buffer was 9% of
 * a 1 GiB restore's CPU and most of its garbage (a profile of `npm run bench:offsite`, O4).
 */
class Pieces {
  private readonly pieces: Buffer[] = [];
  /** Where each piece starts in the pack. */
  private readonly starts: number[] = [];
  size = 0;

  push(piece: Buffer): void {
    this.pieces.push(piece);
    this.starts.push(this.size);
    this.size += piece.length;
  }

  /** The bytes [start, end) as views of the pieces that hold them. */
  slice(start: number, end: number): Buffer[] {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= start) lo = mid;
      else hi = mid - 1;
    }
    const out: Buffer[] = [];
    for (let i = lo; i < this.pieces.length && (this.starts[i] as number) < end; i++) {
      const at = this.starts[i] as number;
      const piece = this.pieces[i] as Buffer;
      out.push(piece.subarray(Math.max(0, start - at), Math.min(piece.length, end - at)));
    }
    return out;
  }
}

function packPlaces(place: BlobPlace | null | undefined): PackPlace[] {
  if (!place) return [];
  if ('pack' in place) return [place];
  return place.chunks.flatMap((c) => (c.place ? [c.place] : []));
}
