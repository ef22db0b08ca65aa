import { assertHostInScope } from '@fleet-backup/core';
import type { Runtime } from '@fleet-backup/runtime';
import { describeBackup, describeSafety, requestBackup } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const idParams = z.object({ id: z.uuid() });
const listQuery = z.object({
  host: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** The backups API: request one, list them, read one with its stages, files and copies. */
export async function backupRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  app.post('/v1/backups', async (req, reply) => {
    const { backup, created } = await requestBackup(rt, req.body);
    return reply
      .code(created ? 202 : 200)
      .send({ id: backup.id, key: backup.key, status: backup.status, created });
  });

  app.get('/v1/backups', { config: { scopes: ['read'] } }, async (req) => {
    const q = listQuery.parse(req.query);
    const rows = await rt.backups.list({ host: q.host, limit: q.limit });
    return {
      backups: rows.map((b) => ({
        id: b.id,
        host: b.host,
        kind: b.kind,
        key: b.key,
        status: b.status,
        created: b.createdAt,
      })),
    };
  });

  // Read scope, and pre_change tokens for their own hosts: a service waits on `safe` here.
  app.get('/v1/backups/:id', { config: { scopes: ['read', 'pre_change'] } }, async (req) => {
    const { id } = idParams.parse(req.params);
    const detail = await rt.backups.detail(id);
    assertHostInScope(req.principal!, detail.backup.host);
    return {
      ...describeBackup(detail),
      ...describeSafety(detail, { offsiteCopies: rt.config.safeOffsiteCopies }),
    };
  });
}
