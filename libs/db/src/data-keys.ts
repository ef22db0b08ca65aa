import type { Queryable } from './pool.ts';

/** A wrapped data key as storage/sealed/keys.ts writes it: only the key's wrapping, never the key. */
export interface DataKeyRecord {
  format: 'fleet-backup.data-key/1';
  id: string;
  wrappedBy: string;
  iv: string;
  sealed: string;
}

/** The catalog's wrapped data keys (sealed targets' DataKeyStore). */
export class DataKeys {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Every wrapping, oldest data key first. */
  async records(): Promise<DataKeyRecord[]> {
    const r = await this.#db.query<{ record: DataKeyRecord }>(
      `SELECT record FROM data_keys
       ORDER BY min(created_at) OVER (PARTITION BY id), id, created_at`,
    );
    return r.rows.map((row) => row.record);
  }

  /** Adds a wrapping; one already there for the same data key and encryption key stays. */
  async add(record: DataKeyRecord): Promise<void> {
    await this.#db.query(
      'INSERT INTO data_keys (id, wrapped_by, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [record.id, record.wrappedBy, JSON.stringify(record)],
    );
  }
}
