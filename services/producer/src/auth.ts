import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface AuthOptions {
  /** Admin bearer token (API_TOKEN). Unset means: loopback clients only, for a single-machine setup. */
  token: string | null;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * One gate for the API and Bull Board. With API_TOKEN set, a request needs
 * `Authorization: Bearer <token>` (or basic auth with the token as password, for a browser);
 * without it only loopback clients get in. Scoped tokens plug in here later.
 */
export function authenticator(opts: AuthOptions) {
  return async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (opts.token === null) {
      if (LOOPBACK.has(req.socket.remoteAddress ?? '')) return;
      return deny(reply, 'set API_TOKEN to accept requests from other machines');
    }
    if (presented(req) !== null && same(presented(req) ?? '', opts.token)) return;
    return deny(reply, 'missing or wrong credentials');
  };
}

function presented(req: FastifyRequest): string | null {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return null;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function deny(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Basic realm="fleet-backup", charset="UTF-8"')
    .send({ error: 'unauthorized', message });
}
