import { BackupNotSafeError, FleetBackupApiError, WaitTimeoutError } from './errors.ts';
import type {
  BackupState,
  BackupView,
  ChangeFailed,
  ChangeVerified,
  PreChangeAccepted,
  PreChangeRequest,
  RetireProgress,
} from './types.ts';

export interface ClientOptions {
  /** The producer's URL, e.g. `https://backup.internal:3000`. */
  baseUrl: string;
  /** A bearer token from `fleet-backup tokens create` (a pre_change token for a service). */
  token: string;
  /** Each HTTP request gives up after this long; default 30 s. */
  requestTimeoutMs?: number;
}

export interface WaitOptions {
  /** Give up with WaitTimeoutError after this long; default one hour. */
  timeoutMs?: number;
  /** Time between polls; default 2 s. */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Called with every state seen, e.g. to log progress. */
  onPoll?: (backup: BackupState) => void;
}

/**
 * The fleet-backup API for a service about to change something: ask for a pre-change backup,
 * wait until it is safe, make the change, then report it verified (or failed). Uses the global
 * fetch; the token goes in the Authorization header only and never into an error message.
 */
export class FleetBackupClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly requestTimeoutMs: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  /** Asks for a pre-change backup and returns its id at once, before any file is copied. */
  async preChange(req: PreChangeRequest): Promise<string> {
    return (await this.request<PreChangeAccepted>('POST', '/v1/pre-change', req)).id;
  }

  /** The backup's status, copies and `safe`. */
  getBackup(id: string): Promise<BackupView> {
    return this.request<BackupView>('GET', `/v1/backups/${encodeURIComponent(id)}`);
  }

  /** The backup's status, stages, copies and `safe`: what a wait polls, cheap whatever its size. */
  getBackupState(id: string): Promise<BackupState> {
    return this.request<BackupState>('GET', `/v1/backups/${encodeURIComponent(id)}/state`);
  }

  /**
   * Polls until the backup is safe and returns it (its full view, read once at the end). Throws BackupNotSafeError as soon as it
   * failed or can no longer become safe, WaitTimeoutError when the time is up, and at once on
   * 400/401/403. A 404 and transient errors (network, 5xx, 429) are polled through: a backup
   * asked for through the queue appears only once a worker has taken the job.
   */
  async waitUntilSafe(id: string, opts: WaitOptions = {}): Promise<BackupView> {
    const timeoutMs = opts.timeoutMs ?? 3_600_000;
    const deadline = Date.now() + timeoutMs;
    let last: BackupState | null = null;
    let lastError: unknown = null;
    for (;;) {
      opts.signal?.throwIfAborted();
      try {
        last = await this.getBackupState(id);
        opts.onPoll?.(last);
        if (last.safe) return await this.getBackup(id);
        if (!last.safety.possible) throw new BackupNotSafeError(last);
      } catch (err) {
        if (!pollable(err)) throw err;
        lastError = err;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new WaitTimeoutError(id, timeoutMs, last, lastError);
      await sleep(Math.min(opts.intervalMs ?? 2_000, left), opts.signal);
    }
  }

  /** Reports the change verified: its backups get `status: verified`, `verified_by`, `verified_date`. */
  verifyChange(ticket: string, verifiedBy: string): Promise<ChangeVerified> {
    return this.request<ChangeVerified>('POST', `/v1/changes/${encodeURIComponent(ticket)}/verify`, {
      verified_by: verifiedBy,
    });
  }

  /** Reports the change failed or rolled back; the answer holds the restore command to run. */
  failChange(ticket: string, reportedBy: string, reason: string): Promise<ChangeFailed> {
    return this.request<ChangeFailed>('POST', `/v1/changes/${encodeURIComponent(ticket)}/fail`, {
      reported_by: reportedBy,
      reason,
    });
  }

  /**
   * Retires a pre-change backup whose change is verified (the seed's manual cleanup): its copies
   * are removed and it ends `retired`. Needs an admin token; a permanent backup or an unverified
   * change is refused with 409. `host` picks the backup when a key exists on several hosts.
   */
  retire(keyOrId: string, opts: { by?: string; host?: string } = {}): Promise<RetireProgress> {
    const query = opts.host ? `?host=${encodeURIComponent(opts.host)}` : '';
    return this.request<RetireProgress>(
      'POST',
      `/v1/backups/${encodeURIComponent(keyOrId)}/retire${query}`,
      opts.by ? { by: opts.by } : {},
    );
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.requestTimeoutMs),
    });
    const text = await res.text();
    const parsed = text ? safeJson(text) : null;
    if (!res.ok) {
      const { error, message } = (parsed ?? {}) as { error?: string; message?: string };
      throw new FleetBackupApiError(
        res.status,
        error ?? 'http_error',
        `${method} ${path}: ${res.status} ${message ?? (text.slice(0, 200) || res.statusText)}`,
      );
    }
    return parsed as T;
  }
}

/** Errors a poll may outlive: the network, an overloaded or restarting server, a backup not recorded yet. */
function pollable(err: unknown): boolean {
  if (err instanceof FleetBackupApiError)
    return err.status === 404 || err.status === 429 || err.status >= 500;
  return err instanceof TypeError || (err instanceof DOMException && err.name === 'TimeoutError');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
