import { freeText } from '@fleet-backup/core';
import { failChange, type Runtime, verifyChange } from '@fleet-backup/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actorName, ticketParams } from '../params.ts';
import { route } from '../route.ts';

const verifyBody = z.strictObject({ verified_by: actorName });
const failBody = z.strictObject({ reported_by: actorName, reason: freeText(4000) });

/**
 * The change a pre-change backup protects, reported by the service that made it: verified
 * (the seed's `status: verified`, `verified_by`, `verified_date`), or failed (the backup stays
 * `pending_verification`, and the answer names the restore command). A pre_change token reports
 * only on backups within its hosts and path prefixes.
 */
export async function changeRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  const scopes = ['pre_change'] as const;

  route(
    app,
    { method: 'POST', url: '/v1/changes/:ticket/verify', scopes, params: ticketParams, body: verifyBody },
    async ({ params, body }, req) =>
      verifyChange(rt, { ticket: params.ticket, by: body.verified_by, ...caller(req) }),
  );

  route(
    app,
    { method: 'POST', url: '/v1/changes/:ticket/fail', scopes, params: ticketParams, body: failBody },
    async ({ params, body }, req) =>
      failChange(rt, { ticket: params.ticket, by: body.reported_by, reason: body.reason, ...caller(req) }),
  );
}

function caller(req: FastifyRequest) {
  const principal = req.principal!;
  return { principal, via: `api:${principal.name}` };
}
