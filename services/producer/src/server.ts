import { BadInputError, describeIssues, NotFoundFailure, OutOfScopeError } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { enableFleetMetrics, type Runtime, readinessAnswer, scrapeMetrics } from '@fleet-backup/runtime';
import Fastify, { type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { type AuthOptions, authenticator } from './auth.ts';
import { boardGate, boardLogins } from './board-auth.ts';
import { mountBullBoard } from './bull-board.ts';
import { backupRoutes } from './routes/backups.ts';
import { changeRoutes } from './routes/changes.ts';
import { hostRoutes } from './routes/hosts.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { preChangeRoutes } from './routes/pre-change.ts';

export interface Server {
  app: FastifyInstance;
  /** Re-reads the host list for Bull Board. */
  refreshBoard(): Promise<void>;
}

/** The producer's HTTP surface: health, the v1 API behind the token gate, and Bull Board behind its own. */
export async function buildServer(rt: Runtime, opts: { token: string | null }): Promise<Server> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  const tokens = new TokenStore(rt.pool, rt.clock);
  const authOptions: AuthOptions = { token: opts.token, tokens, log: rt.log };
  const auth = authenticator(authOptions);
  app.decorateRequest('principal', null);
  if (opts.token === null && !(await tokens.anyLive())) {
    rt.log.warn(
      'no API token exists: loopback clients are served without one until `fleet-backup tokens create`',
    );
  }
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof BadInputError || err instanceof ZodError) {
      const message = err instanceof ZodError ? describeIssues(err) : err.message;
      return reply.code(400).send({ error: 'bad_request', message });
    }
    if (err instanceof OutOfScopeError)
      return reply.code(403).send({ error: 'forbidden', message: err.message });
    if (err instanceof NotFoundFailure)
      return reply.code(404).send({ error: 'not_found', message: err.message });
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad_request', message: (err as Error).message });
    }
    rt.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the producer log' });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const answer = await readinessAnswer(rt);
    return reply.code(answer.status).type(answer.contentType).send(answer.body);
  });
  // Outside the API's auth: Prometheus scrapes without one unless METRICS_TOKEN is set.
  enableFleetMetrics(rt);
  app.get('/metrics', async (req, reply) => {
    const answer = await scrapeMetrics(rt, req.headers.authorization);
    return reply.code(answer.status).type(answer.contentType).send(answer.body);
  });

  await app.register(async (api) => {
    api.addHook('onRequest', auth);
    await backupRoutes(api, rt);
    await lifecycleRoutes(api, rt);
    await preChangeRoutes(api, rt);
    await changeRoutes(api, rt);
    await hostRoutes(api, rt);
  });
  const gate = boardGate({
    logins: boardLogins(rt.config),
    devMode: rt.config.devMode,
    auth: authOptions,
  });
  const refreshBoard = await mountBullBoard(app, rt, gate);
  return { app, refreshBoard };
}
