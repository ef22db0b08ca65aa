import { assertPathsInScope, preChangeRequestSchema } from '@fleet-backup/core';
import { type Runtime, requestPreChange } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';

/**
 * Pre-change intake for other services: records the backup and answers with its id at once
 * (202), before any file is read. The body is checked first (400 with the reason; 413 over
 * 64 KiB), then the token's hosts and path prefixes (403); either way nothing is written or enqueued.
 */
export async function preChangeRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  route(
    app,
    { method: 'POST', url: '/v1/pre-change', scopes: ['pre_change'], body: preChangeRequestSchema },
    async ({ body }, req, reply) => {
      const principal = req.principal!;
      const { backup, created } = await requestPreChange(rt, body, (r) =>
        assertPathsInScope(principal, r.host, r.paths),
      );
      return reply.code(created ? 202 : 200).send({
        id: backup.id,
        host: backup.host,
        key: backup.key,
        status: backup.status,
        created,
      });
    },
  );
}
