import { BadInputError, describeIssues } from '@fleet-backup/core';
import { failChange, type Runtime, verifyChange } from '@fleet-backup/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';

const text = (max: number) => z.string().trim().min(1).max(max);
const ticketParams = z.object({ ticket: text(200) });
const verifyBody = z.strictObject({ verified_by: text(200) });
const failBody = z.strictObject({ reported_by: text(200), reason: text(4000) });

/**
 * The change a pre-change backup protects, reported by the service that made it: verified
 * (the seed's `status: verified`, `verified_by`, `verified_date`), or failed (the backup stays
 * `pending_verification`, and the answer names the restore command). A pre_change token reports
 * only on backups within its hosts and path prefixes.
 */
export async function changeRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  const scoped = { config: { scopes: ['pre_change'] as const } };

  app.post('/v1/changes/:ticket/verify', scoped, async (req) => {
    const { ticket } = parse(ticketParams, req.params, 'ticket');
    const body = parse(verifyBody, req.body, 'body');
    return verifyChange(rt, { ticket, by: body.verified_by, ...caller(req) });
  });

  app.post('/v1/changes/:ticket/fail', scoped, async (req) => {
    const { ticket } = parse(ticketParams, req.params, 'ticket');
    const body = parse(failBody, req.body, 'body');
    return failChange(rt, { ticket, by: body.reported_by, reason: body.reason, ...caller(req) });
  });
}

function caller(req: FastifyRequest) {
  const principal = req.principal!;
  return { principal, via: `api:${principal.name}` };
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadInputError(`invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
