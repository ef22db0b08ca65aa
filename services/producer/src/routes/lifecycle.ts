import { buildReport, RetireRefused, type Runtime, retireBackup } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actorName, backupRefParam, hostQuery } from '../params.ts';
import { route } from '../route.ts';

const retireParams = z.strictObject({ id: backupRefParam });
const retireQuery = z.strictObject({ host: hostQuery });
const retireBody = z.strictObject({ by: actorName.optional() }).optional();

/** Retirement by hand (admin only) and the report (read). */
export async function lifecycleRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  // No `scopes`: admin only. Retiring removes copies; it is an operator's decision.
  route(
    app,
    {
      method: 'POST',
      url: '/v1/backups/:id/retire',
      params: retireParams,
      query: retireQuery,
      body: retireBody,
    },
    async ({ params, query, body }, req, reply) => {
      const by = body?.by ?? req.principal?.name ?? null;
      const { id } = params;
      const { host } = query;
      const ref = z.uuid().safeParse(id).success ? { id } : { key: id, ...(host ? { host } : {}) };
      try {
        const progress = await retireBackup(rt, ref, { by });
        return reply.code(progress.pending.length ? 202 : 200).send(progress);
      } catch (err) {
        // The backup's state forbids it (change not verified, permanent, not a pre_change): a conflict.
        if (err instanceof RetireRefused)
          return reply.code(409).send({ error: 'conflict', message: err.message });
        throw err;
      }
    },
  );

  route(app, { method: 'GET', url: '/v1/report', scopes: ['read'] }, async () => buildReport(rt));
}
