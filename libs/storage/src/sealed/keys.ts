import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { AlreadyExistsError, NotFoundError, PermanentError } from '../errors.ts';
import { listAll, readObject } from '../repository.ts';
import type { StorageTarget } from '../target.ts';
import type { SealKey } from './format.ts';

/**
 * The key hierarchy of sealed targets. The installation has one data key (32 random bytes), made
 * once and kept wrapped (AES-256-GCM) by the configured encryption key (ENCRYPTION_KEY): rotating
 * that key wraps the same data key again, and not one stored object changes. Two keys are derived
 * from the data key (HKDF-SHA256): one seals objects, one names blobs (HMAC). Each sealed target
 * holds the wrapped data key too (`keys/<data key id>.<encryption key id>.json`), so that the
 * bucket and the encryption key are enough to restore.
 */

/** What the configured encryption keys offer (core's Keyring): ids, and the bytes of each. */
export interface MasterKeys {
  readonly currentId: string | null;
  readonly ids: string[];
  keyFor(id: string): Buffer | undefined;
}

/** A data key wrapped by one encryption key, as stored in the catalog and on each target. */
export interface WrappedDataKey {
  format: 'fleet-backup.data-key/1';
  id: string;
  wrappedBy: string;
  iv: string;
  sealed: string;
}

/** The keys derived from one data key. */
export interface SealingMaterial {
  id: string;
  seal: SealKey;
  blobIds: Buffer;
}

/** Where the catalog keeps wrapped data keys (Postgres); null where there is none (bucket-only restore). */
export interface DataKeyStore {
  /** Every wrapping of every data key, oldest first. */
  records(): Promise<WrappedDataKey[]>;
  /** Adds a wrapping; a second one for the same data key and encryption key is ignored. */
  add(record: WrappedDataKey): Promise<void>;
}

export const KEYS_PREFIX = 'keys/';
const FORMAT = 'fleet-backup.data-key/1';

function derive(id: string, dataKey: Buffer): SealingMaterial {
  const sub = (info: string) => Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, 32));
  return { id, seal: { id, key: sub('fleet-backup object sealing') }, blobIds: sub('fleet-backup blob ids') };
}

function aad(id: string, wrappedBy: string): Buffer {
  return Buffer.from(`${FORMAT} ${id} ${wrappedBy}`);
}

export function wrapDataKey(id: string, dataKey: Buffer, masters: MasterKeys): WrappedDataKey {
  const wrappedBy = masters.currentId;
  const master = wrappedBy === null ? undefined : masters.keyFor(wrappedBy);
  if (wrappedBy === null || !master) throw noKey();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master, iv);
  cipher.setAAD(aad(id, wrappedBy));
  const sealed = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  return { format: FORMAT, id, wrappedBy, iv: iv.toString('base64'), sealed: sealed.toString('base64') };
}

/** The data key a record wraps, or undefined when its encryption key is not configured here. */
export function unwrapDataKey(record: WrappedDataKey, masters: MasterKeys): Buffer | undefined {
  const master = masters.keyFor(record.wrappedBy);
  if (!master || record.format !== FORMAT) return undefined;
  const sealed = Buffer.from(record.sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', master, Buffer.from(record.iv, 'base64'));
  decipher.setAAD(aad(record.id, record.wrappedBy));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    throw new PermanentError(
      `data key ${record.id} does not open with encryption key ${record.wrappedBy}: the wrapping was altered, or a different key carries that id`,
      { target: '' },
    );
  }
}

function noKey(): PermanentError {
  return new PermanentError(
    'a sealed target needs an encryption key: set ENCRYPTION_KEY (or ENCRYPTION_KEY_FILE), or give the target "encryption": "none"',
    { target: '' },
  );
}

/** The key of a wrapping on a target. */
export function keyObjectKey(record: Pick<WrappedDataKey, 'id' | 'wrappedBy'>): string {
  return `${KEYS_PREFIX}${record.id}.${record.wrappedBy}.json`;
}

/** The wrappings a target holds, of one data key or all. */
export async function keysOnTarget(target: StorageTarget, id = ''): Promise<WrappedDataKey[]> {
  const out: WrappedDataKey[] = [];
  for await (const o of listAll(target, `${KEYS_PREFIX}${id}`)) {
    try {
      out.push(JSON.parse((await readObject(target, o.key, 64 << 10)).toString('utf8')) as WrappedDataKey);
    } catch (err) {
      if (!(err instanceof NotFoundError) && !(err instanceof SyntaxError)) throw err;
    }
  }
  return out;
}

/**
 * The sealing keys of one process: the installation's data key from the catalog (made there the
 * first time, and wrapped again by a new encryption key after a rotation), or, with no catalog,
 * from the target being read.
 */
export class SealingKeys {
  readonly #store: DataKeyStore | null;
  readonly #masters: MasterKeys;
  readonly #opened = new Map<string, SealingMaterial>();
  readonly #published = new Set<string>();
  #current: Promise<SealingMaterial> | undefined;

  constructor(store: DataKeyStore | null, masters: MasterKeys) {
    this.#store = store;
    this.#masters = masters;
  }

  /** The data key new objects are sealed with. */
  current(): Promise<SealingMaterial> {
    this.#current ??= this.#findCurrent().catch((err: unknown) => {
      this.#current = undefined;
      throw err;
    });
    return this.#current;
  }

  async #findCurrent(): Promise<SealingMaterial> {
    if (this.#masters.currentId === null) throw noKey();
    if (!this.#store)
      throw new PermanentError(
        'no catalog to keep the data key in: sealed objects are written by the roles',
        { target: '' },
      );
    let records = await this.#store.records();
    if (!records.length) {
      const id = randomBytes(8).toString('hex');
      await this.#store.add(wrapDataKey(id, randomBytes(32), this.#masters));
      records = await this.#store.records();
    }
    // The oldest data key is the installation's: two first writers racing both added one.
    const id = (records[0] as WrappedDataKey).id;
    const material = this.#open(
      records.filter((r) => r.id === id),
      id,
    );
    if (!records.some((r) => r.id === id && r.wrappedBy === this.#masters.currentId)) {
      const dataKey = unwrapAny(
        records.filter((r) => r.id === id),
        this.#masters,
      ) as Buffer;
      await this.#store.add(wrapDataKey(id, dataKey, this.#masters));
    }
    return material;
  }

  /**
   * The keys that name blobs on `target`: the installation's data key; with no catalog (a restore
   * from the bucket alone), the one the target holds.
   */
  async naming(target: StorageTarget): Promise<SealingMaterial> {
    if (this.#store) return this.current();
    const first = (await keysOnTarget(target))[0];
    if (!first) throw new NotFoundError(target.name, KEYS_PREFIX);
    return this.byId(first.id, target);
  }

  /** The keys of data key `id`, from the catalog or else from `target`'s own copy. */
  async byId(id: string, target: StorageTarget): Promise<SealingMaterial> {
    const known = this.#opened.get(id);
    if (known) return known;
    const fromCatalog = this.#store ? (await this.#store.records()).filter((r) => r.id === id) : [];
    const records = fromCatalog.length ? fromCatalog : await keysOnTarget(target, id);
    return this.#open(records, id);
  }

  #open(records: WrappedDataKey[], id: string): SealingMaterial {
    const dataKey = unwrapAny(records, this.#masters);
    if (!dataKey) {
      const by = records.map((r) => r.wrappedBy).join(', ') || 'none found';
      throw new PermanentError(
        `data key ${id} is wrapped by encryption key(s) ${by}, none configured here (configured: ${this.#masters.ids.join(', ') || 'none'}); add it to ENCRYPTION_KEY or ENCRYPTION_OLD_KEYS`,
        { target: '' },
      );
    }
    const material = derive(id, dataKey);
    this.#opened.set(id, material);
    return material;
  }

  /** Puts the current wrapping of data key `id` on the target, once per process (create-only). */
  async publish(target: StorageTarget, id: string): Promise<void> {
    const wrappedBy = this.#masters.currentId ?? '';
    const mark = `${target.name} ${id} ${wrappedBy}`;
    if (this.#published.has(mark) || !this.#store) return;
    const record = (await this.#store.records()).find((r) => r.id === id && r.wrappedBy === wrappedBy);
    if (!record) return;
    const bytes = Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    try {
      await target.put(keyObjectKey(record), bytes, { sha256, size: bytes.length, ifAbsent: true });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    this.#published.add(mark);
  }
}

function unwrapAny(records: WrappedDataKey[], masters: MasterKeys): Buffer | undefined {
  for (const r of records) {
    const key = unwrapDataKey(r, masters);
    if (key) return key;
  }
  return undefined;
}
