import { TokenStore } from '@fleet-backup/db';
import { enableFleetMetrics, type Runtime, readinessAnswer, scrapeMetrics } from '@fleet-backup/runtime';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type AuthOptions, authenticator } from './auth.ts';
import { boardGate, boardLogins } from './board-auth.ts';
import { mountBullBoard } from './bull-board.ts';
import { errorAnswer } from './error-answer.ts';
import { backupRoutes } from './routes/backups.ts';
import { changeRoutes } from './routes/changes.ts';
import { hostRoutes } from './routes/hosts.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { preChangeRoutes } from './routes/pre-change.ts';

export interface Server {
  app: FastifyInstance;
  /** Every route served (method and URL pattern, Bull Board's included), as fastify registered them. */
  routes: { method: string; url: string }[];
  /** Re-reads the host list for Bull Board. */
  refreshBoard(): Promise<void>;
}

/** The producer's HTTP surface: health, the v1 API behind the token gate, and Bull Board behind its own. */
export async function buildServer(rt: Runtime, opts: { token: string | null }): Promise<Server> {
  const app = Fastify({
    logger: false,
    // Bull Board's own bodies (job data an admin edits); API routes take at most API_BODY_LIMIT.
    bodyLimit: 1 << 20,
    // A malformed URL (`%zz`) gets the same 400 as any other bad input.
    frameworkErrors: (err, req, reply) => answerError(rt, err, req, reply),
  });
  const tokens = new TokenStore(rt.pool, rt.clock);
  const authOptions: AuthOptions = { token: opts.token, tokens, log: rt.log };
  const auth = authenticator(authOptions);
  app.decorateRequest('principal', null);
  if (opts.token === null && !(await tokens.anyLive())) {
    rt.log.warn(
      'no API token exists: loopback clients are served without one until `fleet-backup tokens create`',
    );
  }
  const routes: Server['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  app.setErrorHandler((err, req, reply) => answerError(rt, err, req, reply));
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

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
  return { app, routes, refreshBoard };
}

/** Answers an error through the one mapping (error-answer.ts); only our own failures are logged as errors. */
function answerError(rt: Runtime, err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const url = req.routeOptions?.url ?? req.url.split('?')[0] ?? req.url;
  const answer = errorAnswer(err, { method: req.method, url, bodyLimit: req.routeOptions?.bodyLimit });
  if (answer.level === 'error') rt.log.error({ err, method: req.method, url }, 'request failed');
  else
    rt.log.info(
      { method: req.method, url, status: answer.status, reason: answer.body.message },
      'request refused',
    );
  return reply.code(answer.status).send(answer.body);
}
