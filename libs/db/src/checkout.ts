import type pg from 'pg';

/**
 * A Postgres connection died while a client was checked out of the pool (a failover, a restart,
 * `pg_terminate_backend`). What it was doing is lost: a transaction rolled back, a session lock
 * released. Transient: the job that was running fails and is retried.
 */
export class ConnectionLostError extends Error {
  /** What the client was held for, e.g. `a transaction`, `the expire lock`. */
  readonly purpose: string;

  constructor(purpose: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      `lost the Postgres connection during ${purpose} (${detail}); what it did was rolled back, and the job will be retried`,
      { cause },
    );
    this.name = 'ConnectionLostError';
    this.purpose = purpose;
  }
}

/**
 * Runs fn with a client checked out of the pool, listening for the client's 'error' event the
 * whole time. node-pg emits 'error' on a checked-out client whose connection dies while no query
 * is running (between the queries of a transaction, while a lock is held), and the pool's own
 * handler covers idle clients only: unheard, that event ends the process. Here it aborts `lost`
 * (for work that uses other connections meanwhile) and makes the call reject with
 * ConnectionLostError. A client that failed is destroyed rather than returned to the pool.
 */
export async function withClient<T>(
  pool: pg.Pool,
  purpose: string,
  fn: (client: pg.PoolClient, lost: AbortSignal) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const lost = new AbortController();
  const onError = (err: Error) => {
    if (!lost.signal.aborted) lost.abort(new ConnectionLostError(purpose, err));
  };
  client.on('error', onError);
  let failure: Error | undefined;
  try {
    const result = await fn(client, lost.signal);
    lost.signal.throwIfAborted();
    return result;
  } catch (err) {
    // The lost connection is the reason whatever fn saw failed ("not queryable", 57P01).
    failure = lost.signal.aborted ? (lost.signal.reason as Error) : toError(err);
    throw failure;
  } finally {
    client.off('error', onError);
    // As pool.query does: a client that failed is not reused.
    client.release(failure);
  }
}

/**
 * Runs fn while holding the session-level advisory lock `key` on a client of its own. When that
 * connection is lost, Postgres has released the lock: `lost` aborts so fn can stop between steps,
 * and the call rejects with ConnectionLostError even if fn finished.
 */
export function withAdvisoryLock<T>(
  pool: pg.Pool,
  key: number,
  purpose: string,
  fn: (client: pg.PoolClient, lost: AbortSignal) => Promise<T>,
): Promise<T> {
  return withClient(pool, purpose, async (client, lost) => {
    await client.query('SELECT pg_advisory_lock($1)', [key]);
    const result = await fn(client, lost);
    // A failed unlock rejects, so withClient drops the connection, which releases the lock.
    await client.query('SELECT pg_advisory_unlock($1)', [key]);
    return result;
  });
}

/** SQLSTATEs of a session ended from outside: admin shutdown (pg_terminate_backend), crash, restart. */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

/**
 * True when err says the connection to Postgres was lost (rather than that the statement was
 * wrong): worth running the same work again on a new connection.
 */
export function isConnectionLoss(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof ConnectionLostError) return true;
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (SESSION_ENDED.has(code) || code.startsWith('08') || code === 'ECONNRESET')
    ) {
      return true;
    }
    if (/Connection terminated|not queryable|ECONNREFUSED/.test(e.message)) return true;
  }
  return false;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
