import { assertPathsInScope } from '@fleet-backup/core';
import { type Runtime, requestPreChange } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';

/**
 * Pre-change intake for other services: records the backup and answers with its id at once
 * (202), before any file is read. The body is checked first (400 with the reason), then the
 * token's hosts and path prefixes (403); either way nothing is written or enqueued.
 */
export async function preChangeRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  app.post('/v1/pre-change', { config: { scopes: ['pre_change'] } }, async (req, reply) => {
    const principal = req.principal!;
    const { backup, created } = await requestPreChange(rt, req.body, (r) =>
      assertPathsInScope(principal, r.host, r.paths),
    );
    return reply.code(created ? 202 : 200).send({
      id: backup.id,
      host: backup.host,
      key: backup.key,
      status: backup.status,
      created,
    });
  });
}
