import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ContentHasher, hashFile } from './content.ts';
import type { Preconditions } from './preconditions.ts';
import type { ObjectAttrs, StoredObject } from './resources.ts';

/** What survives a restart of a resumable upload: enough to carry on where the client left off. */
export interface SessionRecord {
  id: string;
  bucket: string;
  name: string;
  attrs: ObjectAttrs;
  pre: Preconditions;
  /** Bytes durably received; the part file is cut back to this after a failed chunk. */
  received: number;
}

export interface Session {
  record: SessionRecord;
  hasher: ContentHasher;
  partFile: string;
  /** Serialises the PUTs of one session. */
  queue: Promise<unknown>;
}

/**
 * Resumable upload sessions, each a JSON record plus a part file under `uploads/`. Live sessions
 * are cached; a session unknown to this process (the emulator restarted) is reloaded from disk and
 * its hash state rebuilt by rereading the part file.
 */
export class SessionStore {
  private readonly dir: string;
  private readonly live = new Map<string, Session>();
  /** Finished uploads answer status queries and retried final PUTs with the object they created. */
  private readonly finished = new Map<string, StoredObject>();

  constructor(dir: string) {
    this.dir = join(dir, 'uploads');
  }

  async create(bucket: string, name: string, attrs: ObjectAttrs, pre: Preconditions): Promise<SessionRecord> {
    const record: SessionRecord = {
      id: randomBytes(16).toString('hex'),
      bucket,
      name,
      attrs,
      pre,
      received: 0,
    };
    await writeFile(this.partFile(record.id), '');
    await this.save(record);
    return record;
  }

  async get(id: string): Promise<Session | undefined> {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
    const cached = this.live.get(id);
    if (cached) return cached;
    let record: SessionRecord;
    try {
      record = JSON.parse(await readFile(this.recordFile(id), 'utf8')) as SessionRecord;
    } catch {
      return undefined;
    }
    const partFile = this.partFile(id);
    // Bytes past `received` belong to a chunk that never completed.
    if ((await stat(partFile)).size > record.received) await truncate(partFile, record.received);
    const session: Session = {
      record,
      hasher: await hashFile(partFile, record.received),
      partFile,
      queue: Promise.resolve(),
    };
    // Another request may have loaded it while we were hashing.
    const raced = this.live.get(id);
    if (raced) return raced;
    this.live.set(id, session);
    return session;
  }

  finishedObject(id: string): StoredObject | undefined {
    return this.finished.get(id);
  }

  async save(record: SessionRecord): Promise<void> {
    await writeFile(this.recordFile(record.id), JSON.stringify(record));
  }

  /** Forgets a session; `result` is remembered when it ended in an object. */
  async end(id: string, result?: StoredObject): Promise<void> {
    this.live.delete(id);
    if (result) this.finished.set(id, result);
    await rm(this.recordFile(id), { force: true });
    await rm(this.partFile(id), { force: true });
  }

  /** Runs `fn` after every earlier PUT of the session has settled. */
  async serialize<T>(session: Session, fn: () => Promise<T>): Promise<T> {
    const run = session.queue.then(fn, fn);
    session.queue = run.catch(() => undefined);
    return run;
  }

  private recordFile(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private partFile(id: string): string {
    return join(this.dir, `${id}.part`);
  }
}
