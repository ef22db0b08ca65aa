import { buildReport, RetireRefused, type Runtime, retireBackup } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

// A backup id, or a key (YYYYMMDD_HHMM_description) with ?host= when keys repeat across hosts.
const retireParams = z.object({ id: z.union([z.uuid(), z.string().regex(/^\d{8}(_\d{4}_[a-z0-9-]+)?$/)]) });
const retireQuery = z.object({ host: z.string().min(1).max(63).optional() });
const retireBody = z.strictObject({ by: z.string().trim().min(1).max(200).optional() }).optional();

/** Retirement by hand (admin only) and the report (read). */
export async function lifecycleRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  // No `scopes`: admin only. Retiring removes copies; it is an operator's decision.
  app.post('/v1/backups/:id/retire', async (req, reply) => {
    const { id } = retireParams.parse(req.params);
    const { host } = retireQuery.parse(req.query);
    const body = retireBody.parse(req.body ?? undefined);
    const by = body?.by ?? req.principal?.name ?? null;
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
  });

  app.get('/v1/report', { config: { scopes: ['read'] } }, async () => buildReport(rt));
}
