import {
  assertPathsInScope,
  type BackupRequest,
  type PreChangeRequest,
  preChangeRequestSchema,
} from '@fleet-backup/core';
import { type Runtime, requestPreChange } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';

/**
 * Pre-change intake for other services: records the backup and answers with its id at once
 * (202), before any file is read. The body is checked first (400 with the reason; 413 over
 * 64 KiB), then the token's hosts and path prefixes (403); either way nothing is written or enqueued.
 * A retry with the caller's id gets the same backup (200); the same id with another request is
 * a conflict (409), not a way to read someone else's backup.
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
      if (!created && !sameRequest(backup.request, body)) {
        return reply.code(409).send({
          error: 'conflict',
          message: `id ${backup.id} already names another pre-change backup (other paths, ticket or description); a retry repeats the same request, a new request needs a new id`,
        });
      }
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

/** Whether a recorded backup is what this request asks for (retention aside: a snapshot may raise it). */
function sameRequest(recorded: BackupRequest, asked: PreChangeRequest): boolean {
  const paths = (ps: string[]) => [...ps].sort().join('\n');
  return (
    recorded.kind === 'pre_change' &&
    recorded.host === asked.host &&
    paths(recorded.paths) === paths(asked.paths) &&
    recorded.ticket === asked.change_ticket &&
    recorded.description === asked.description
  );
}
