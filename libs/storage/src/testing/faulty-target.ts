/**
 * A StorageTarget that injects faults into another one, deterministically (compare Kopia's
 * blobtesting/faulty.go): errors before the call (transient or permanent), a put whose answer is
 * lost after the object was stored, bodies that end early or fail midway, and delays. Faults come
 * from a script per operation, or from a PRNG with a seed, so a failing run can be replayed.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, type StorageError, TransientError } from '../errors.ts';
import { discardBody, openBody } from '../put-body.ts';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
  TargetKind,
} from '../target.ts';

export type FaultOp = 'put' | 'get' | 'head' | 'list' | 'delete';

export type Fault =
  /** The call fails before it reaches the base target, which sees nothing. */
  | { type: 'error'; transient: boolean }
  /** put: the base target stores the object, then the call fails anyway (the answer was lost). */
  | { type: 'errorAfter' }
  /** The call waits this long (honouring its abort signal), then proceeds. */
  | { type: 'delay'; ms: number }
  /** get: the stream ends cleanly, without an error, after this many bytes (a truncated body). */
  | { type: 'shortBody'; bytes: number }
  /**
   * get: the stream fails after this many bytes (a connection lost midway); put: the upload
   * fails after reading this many bytes of the body, and nothing is stored.
   */
  | { type: 'failMidway'; bytes: number; transient?: boolean };

export interface FaultyTargetOptions {
  /** Faults taken in order, per operation: the nth `get` meets `script.get[n - 1]` (null: none). */
  script?: Partial<Record<FaultOp, (Fault | null)[]>>;
  /** After the script runs out: each call meets a fault with probability `rate`, drawn from `faults`. */
  random?: { seed: number; rate: number; faults: readonly Fault[]; ops?: readonly FaultOp[] };
}

export interface InjectedFault {
  op: FaultOp;
  key: string;
  fault: Fault;
}

/** mulberry32, a small seeded PRNG: the same seed gives the same faults in the same call order. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wraps `base`, injecting the faults its options script (see the file comment). */
export class FaultyTarget implements StorageTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly offsite: boolean;
  readonly location: string;
  readonly base: StorageTarget;
  /** Every fault injected so far, in order. */
  readonly injected: InjectedFault[] = [];
  /** Calls per operation, faulty or not. */
  readonly calls: Record<FaultOp, number> = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  private readonly script: Partial<Record<FaultOp, (Fault | null)[]>>;
  private readonly random: FaultyTargetOptions['random'];
  private readonly draw: () => number;

  constructor(base: StorageTarget, opts: FaultyTargetOptions = {}) {
    this.base = base;
    this.name = base.name;
    this.kind = base.kind;
    this.offsite = base.offsite;
    this.location = `faulty ${base.location}`;
    this.script = Object.fromEntries(Object.entries(opts.script ?? {}).map(([op, f]) => [op, [...f]]));
    this.random = opts.random;
    this.draw = seededRandom(opts.random?.seed ?? 1);
  }

  /** Scripted faults not yet met, per operation (a test can check its script was exercised). */
  pending(): Partial<Record<FaultOp, number>> {
    const left = Object.entries(this.script).filter(([, f]) => f.some((x) => x !== null));
    return Object.fromEntries(left.map(([op, f]) => [op, f.filter((x) => x !== null).length]));
  }

  private next(op: FaultOp, key: string): Fault | null {
    this.calls[op]++;
    const scripted = this.script[op];
    let fault: Fault | null = null;
    if (scripted && scripted.length > 0) fault = scripted.shift() ?? null;
    else if (this.random && (this.random.ops ?? [op]).includes(op)) {
      const hit = this.draw() < this.random.rate;
      const pick = this.random.faults[Math.floor(this.draw() * this.random.faults.length)];
      if (hit && pick) fault = pick;
    }
    if (fault) this.injected.push({ op, key, fault });
    return fault;
  }

  private error(op: FaultOp, key: string, transient: boolean, detail: string): StorageError {
    const message = `injected ${transient ? 'transient' : 'permanent'} fault: ${op} ${key} ${detail}`;
    const where = { target: this.name, key };
    return transient ? new TransientError(message, where) : new PermanentError(message, where);
  }

  /** Applies a fault that acts before the call; returns the fault when the call itself must carry it. */
  private async before(op: FaultOp, key: string, signal?: AbortSignal): Promise<Fault | null> {
    const fault = this.next(op, key);
    if (fault?.type === 'error') throw this.error(op, key, fault.transient, 'before the call');
    if (fault?.type === 'delay') {
      await sleep(fault.ms, undefined, signal ? { signal } : {});
      return null;
    }
    return fault;
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    const fault = await this.before('put', key, opts.signal).catch((err: unknown) => {
      discardBody(body);
      throw err;
    });
    if (fault?.type === 'failMidway') {
      const stream = openBody(body);
      await readSome(stream, fault.bytes);
      stream.destroy();
      throw this.error('put', key, fault.transient ?? true, `after ${fault.bytes} bytes of the body`);
    }
    await this.base.put(key, body, opts);
    if (fault?.type === 'errorAfter') throw this.error('put', key, true, 'after the object was stored');
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const fault = await this.before('get', key, signal);
    const stream = await this.base.get(key, range, signal);
    if (fault?.type === 'shortBody') return Readable.from(cut(stream, fault.bytes), { objectMode: false });
    if (fault?.type === 'failMidway') {
      const fail = this.error('get', key, fault.transient ?? true, `after ${fault.bytes} bytes of the body`);
      return Readable.from(cut(stream, fault.bytes, fail), { objectMode: false });
    }
    return stream;
  }

  async head(key: string): Promise<ObjectInfo> {
    await this.before('head', key);
    return this.base.head(key);
  }

  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    await this.before('list', prefix);
    return this.base.list(prefix, opts);
  }

  async delete(key: string): Promise<void> {
    await this.before('delete', key);
    await this.base.delete(key);
  }
}

/** Reads up to `bytes` of a stream (for a put that fails midway). */
async function readSome(stream: Readable, bytes: number): Promise<void> {
  let read = 0;
  for await (const chunk of stream) {
    read += (chunk as Buffer).length;
    if (read >= bytes) break;
  }
}

/** The first `bytes` of a stream, then its end (or `fail`); the source is released either way. */
async function* cut(source: Readable, bytes: number, fail?: Error): AsyncGenerator<Buffer> {
  let left = bytes;
  try {
    for await (const chunk of source) {
      const buf = chunk as Buffer;
      if (left <= 0) break;
      const part = buf.subarray(0, left);
      left -= part.length;
      yield part;
      if (left <= 0) break;
    }
    if (fail) throw fail;
  } finally {
    source.destroy();
  }
}
