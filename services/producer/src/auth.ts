import type { Logger } from '@fleet-backup/config';
import { allows, type Principal, sameSecret, type TokenScope } from '@fleet-backup/core';
import type { TokenStore } from '@fleet-backup/db';
import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as; set by the auth hook before any handler runs. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Scopes besides admin that may call the route; absent means admin only. */
    scopes?: readonly TokenScope[];
  }
}

export interface AuthOptions {
  /** Bootstrap admin token (API_TOKEN), compared in memory, never stored. */
  token: string | null;
  tokens: TokenStore;
  log?: Logger;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const BOOTSTRAP: Principal = { name: 'API_TOKEN', scope: 'admin', hosts: [], pathPrefixes: [] };
const UNCONFIGURED: Principal = { name: 'loopback', scope: 'admin', hosts: [], pathPrefixes: [] };

/**
 * The API's gate (Bull Board has its own, in board-auth.ts). A request presents `Authorization: Bearer <token>` (or
 * basic auth with the token as password, for a browser): API_TOKEN, or a live token from
 * Postgres. Then the route must be open to the token's scope (admin passes everywhere; a route
 * without `config.scopes` is admin only, so a new route is closed until it says otherwise).
 * Handlers check host and path limits on the parsed body. 401 and 403 happen here, before the
 * body is read, so nothing is enqueued. Only an installation with no token at all (no API_TOKEN,
 * no live token) serves loopback clients without one, so `npm start` works out of the box; the
 * first token created closes that door, and a request relayed by a local proxy never counts.
 */
export function authenticator(opts: AuthOptions) {
  return async function authenticate(
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const who = await identify(req, opts);
    if (typeof who === 'string') {
      opts.log?.info(
        { method: req.method, url: req.routeOptions.url, reason: who },
        'request unauthenticated',
      );
      // Returning the reply ends the request here (Fastify: mandatory when an async hook answers).
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="fleet-backup", charset="UTF-8"')
        .send({ error: 'unauthorized', message: who });
    }
    const scopes = req.routeOptions.config?.scopes ?? [];
    if (!allows(who, scopes)) {
      const needs = [...scopes, 'admin'].join(' or ');
      const message = `token ${who.name} has scope ${who.scope}; ${req.method} ${req.routeOptions.url ?? req.url} needs ${needs}`;
      opts.log?.info(
        { principal: who.name, scope: who.scope, url: req.routeOptions.url },
        'request out of scope',
      );
      return reply.code(403).send({ error: 'forbidden', message });
    }
    req.principal = who;
    return undefined;
  };
}

/** The principal, or why there is none. */
async function identify(req: FastifyRequest, opts: AuthOptions): Promise<Principal | string> {
  const secret = presented(req);
  if (secret === null) {
    if (opts.token === null && isLoopback(req) && !(await opts.tokens.anyLive())) return UNCONFIGURED;
    return 'missing credentials: send Authorization: Bearer <token> (see `fleet-backup tokens create`)';
  }
  return principalFor(secret, opts);
}

/** The principal a presented token (API_TOKEN or a live token) stands for, or why there is none. */
export async function principalFor(secret: string, opts: AuthOptions): Promise<Principal | string> {
  if (opts.token !== null && sameSecret(secret, opts.token)) return BOOTSTRAP;
  const row = await opts.tokens.authenticate(secret);
  if (!row) return 'unknown or revoked token';
  return { name: row.name, scope: row.scope, hosts: row.hosts, pathPrefixes: row.pathPrefixes };
}

/** A direct loopback connection; a proxy on this machine relays remote clients, so forwarded ones are not. */
export function isLoopback(req: FastifyRequest): boolean {
  if (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) return false;
  return LOOPBACK.has(req.socket.remoteAddress ?? '');
}

/** The token a request carries: the bearer token, or the password of basic auth. */
export function presented(req: FastifyRequest): string | null {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  return basicCredentials(req)?.password ?? null;
}

/** Basic auth's user and password, or null without it; a value without a colon is all password, with no user. */
export function basicCredentials(req: FastifyRequest): { user: string | null; password: string } | null {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { user: null, password: decoded };
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
