import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  BadInputError,
  type Clock,
  describeIssues,
  NotFoundFailure,
  type TokenScope,
  type TokenSpec,
  tokenSpecSchema,
} from '@fleet-backup/core';
import type { Pool } from './pool.ts';

/** A token as stored: everything but the secret, which exists only in the creator's hands. */
export interface TokenRow {
  id: string;
  name: string;
  scope: TokenScope;
  hosts: string[];
  pathPrefixes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Recognisable by secret scanners and in logs people paste; the rest is 256 random bits. */
const TOKEN_PREFIX = 'fbk_';
// last_used_at is for people ("is this token still in use?"); a minute's precision spares a write per poll.
const LAST_USED_PRECISION_MS = 60_000;

/** sha256 of a token, hex: what is stored and looked up. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** API tokens, stored hashed (see migration 003 for why sha256 suffices). */
export class TokenStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Creates a token and returns its secret: the only time anyone sees it. */
  async create(input: unknown): Promise<{ token: string; row: TokenRow }> {
    const parsed = tokenSpecSchema.safeParse(input);
    if (!parsed.success) throw new BadInputError(`invalid token: ${describeIssues(parsed.error)}`);
    const spec: TokenSpec = parsed.data;
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const r = await this.pool
      .query(
        `INSERT INTO api_tokens (id, name, scope, hosts, path_prefixes, token_sha256, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          randomUUID(),
          spec.name,
          spec.scope,
          spec.hosts,
          spec.pathPrefixes,
          hashToken(token),
          this.clock.now(),
        ],
      )
      .catch((err: { code?: string; constraint?: string }) => {
        if (err.code === '23505' && err.constraint === 'api_tokens_live_name') {
          throw new BadInputError(
            `a live token is already named ${spec.name}; revoke it first or pick another name`,
          );
        }
        throw err;
      });
    return { token, row: toToken(r.rows[0]) };
  }

  /** Tokens, newest first; revoked ones only when asked. */
  async list(opts: { includeRevoked?: boolean } = {}): Promise<TokenRow[]> {
    const r = await this.pool.query(
      'SELECT * FROM api_tokens WHERE $1 OR revoked_at IS NULL ORDER BY created_at DESC, name',
      [opts.includeRevoked ?? false],
    );
    return r.rows.map(toToken);
  }

  /** Revokes a live token by id or name; revoking a revoked one by id is a no-op. */
  async revoke(idOrName: string): Promise<TokenRow> {
    const r = await this.pool.query(
      `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2)
       WHERE id::text = lower($1) OR (name = $1 AND revoked_at IS NULL)
       RETURNING *`,
      [idOrName, this.clock.now()],
    );
    if (!r.rows[0])
      throw new NotFoundFailure(`no live token with id or name ${idOrName}`, { token: idOrName });
    return toToken(r.rows[0]);
  }

  /** The live token whose secret this is, or null; refreshes its last-used time. */
  async authenticate(secret: string): Promise<TokenRow | null> {
    if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return null;
    const r = await this.pool.query(
      'SELECT * FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL',
      [hashToken(secret)],
    );
    if (!r.rows[0]) return null;
    const row = toToken(r.rows[0]);
    const now = this.clock.now();
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
      await this.pool.query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1', [row.id, now]);
      row.lastUsedAt = now;
    }
    return row;
  }

  /** True when any live token exists: the API then requires one from every client, loopback too. */
  async anyLive(): Promise<boolean> {
    const r = await this.pool.query(
      'SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL) AS live',
    );
    return r.rows[0]?.live === true;
  }
}

function toToken(r: Record<string, unknown>): TokenRow {
  return {
    id: r.id as string,
    name: r.name as string,
    scope: r.scope as TokenScope,
    hosts: r.hosts as string[],
    pathPrefixes: r.path_prefixes as string[],
    createdAt: r.created_at as Date,
    lastUsedAt: (r.last_used_at as Date | null) ?? null,
    revokedAt: (r.revoked_at as Date | null) ?? null,
  };
}
