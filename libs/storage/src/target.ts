import type { Readable } from 'node:stream';
import { PermanentError } from './errors.ts';

/**
 * What a put reads: a stream, which can be read once; a function that opens the bytes afresh
 * each time it is called (a file); or the bytes themselves, in one Buffer (a pack), which an S3
 * upload slices into parts without copying. The last two let a retrying wrapper try the put again.
 * A Buffer must not change until the put has settled.
 */
export type PutBody = Readable | (() => Readable) | Buffer;

/** The kinds of storage a copy can live on; 3-2-1 counts distinct kinds. */
export type TargetKind = 'fs' | 's3' | 'gcs';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Server-side checksums when the target keeps them (hex sha256, base64 md5/crc32c, etag). */
  checksums?: { sha256?: string; md5?: string; crc32c?: string; etag?: string };
}

export interface PutOptions {
  /** Lowercase hex sha256 of the bytes; a mismatch rejects the put and leaves nothing under the key. */
  sha256: string;
  /** Size in bytes when known; lets adapters choose single-part vs multipart and check length. */
  size?: number;
  signal?: AbortSignal;
  /**
   * Create only: when an object is under the key already, write nothing and throw
   * AlreadyExistsError (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, a hard link on a
   * filesystem). The only way an agent's create-only credential may write, and it needs no head.
   */
  ifAbsent?: boolean;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Opaque cursor for the next page; absent on the last page. */
  next?: string;
}

export interface ListOptions {
  cursor?: string;
  /** Page size hint; adapters may return fewer. */
  limit?: number;
}

/**
 * One place copies go. Keys are '/'-separated relative paths (no leading '/', no '..').
 * Adapters stay plain: retries, throttling and metrics are wrappers implementing this same interface.
 */
export interface StorageTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly offsite: boolean;
  /** Human-readable location for messages, with no secrets (e.g. `s3://bucket/prefix at http://…`). */
  readonly location: string;
  /**
   * True for an agent's view of a target that has an agent credential (writeOnly below): it may
   * only create objects, so callers learn what is stored from the catalog, never by a head.
   */
  readonly writeOnly?: boolean;
  /**
   * Stores the body under key, atomically: readers see the whole object or none. The put consumes
   * or destroys the stream it reads, whether it succeeds or fails.
   */
  put(key: string, body: PutBody, opts: PutOptions): Promise<void>;
  /** Throws NotFoundError when absent. */
  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** Throws NotFoundError when absent. */
  head(key: string): Promise<ObjectInfo>;
  /** Keys starting with prefix, in lexicographic order, one page at a time. */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
}

/** What verify, drills and restores may do with a target: read it. */
export type ReadOnlyTarget = Pick<
  StorageTarget,
  'name' | 'kind' | 'offsite' | 'location' | 'get' | 'head' | 'list'
>;

/**
 * A view of a target that can only read: no put or delete is there to call, even through a cast,
 * so a stage that should only read (verify, a drill, a restore) cannot change a copy by mistake.
 */
export function readOnly(target: StorageTarget): ReadOnlyTarget {
  return {
    name: target.name,
    kind: target.kind,
    offsite: target.offsite,
    location: target.location,
    get: (key, range, signal) => target.get(key, range, signal),
    head: (key) => target.head(key),
    list: (prefix, opts) => target.list(prefix, opts),
  };
}

/**
 * The view an agent gets of a target configured with an agent credential: puts only, and those
 * create-only (`ifAbsent`). The credential itself is what the provider enforces (README: "Agents
 * can only write"); this view makes the agent's code fail at once, with the reason, where it
 * would otherwise get an AccessDenied from the provider.
 */
export function writeOnly(target: StorageTarget): StorageTarget {
  const refuse = (op: string) => () =>
    Promise.reject(
      new PermanentError(
        `${op} on target ${target.name} is not allowed with the agent's credential (create only); the pool reads, verifies and deletes`,
        { target: target.name },
      ),
    );
  return {
    name: target.name,
    kind: target.kind,
    offsite: target.offsite,
    location: target.location,
    writeOnly: true,
    put: (key, body, opts) => target.put(key, body, { ...opts, ifAbsent: true }),
    get: refuse('get'),
    head: refuse('head'),
    list: refuse('list'),
    delete: refuse('delete'),
  };
}
