import { assertHostInScope, backupRequestSchema, NotFoundFailure } from '@fleet-backup/core';
import { backupProgress } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { copyView, describeBackup, describeSafety, requestBackup, stageView } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { backupIdParams, countParam, hostQuery } from '../params.ts';
import { route } from '../route.ts';
import { assertPathsInScope, scopedView } from '../scoped-view.ts';

const listQuery = z.strictObject({
  host: hostQuery,
  limit: countParam(1, 1000).default(100),
});

/** The backups API: request one, list them, read one with its stages, files and copies. */
export async function backupRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  route(
    app,
    { method: 'POST', url: '/v1/backups', body: backupRequestSchema },
    async ({ body }, _req, reply) => {
      const { backup, created } = await requestBackup(rt, body);
      return reply
        .code(created ? 202 : 200)
        .send({ id: backup.id, key: backup.key, status: backup.status, created });
    },
  );

  route(app, { method: 'GET', url: '/v1/backups', scopes: ['read'], query: listQuery }, async ({ query }) => {
    const rows = await rt.backups.list({ host: query.host, limit: query.limit });
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

  // Read scope, and pre_change tokens within their scope: a service waits on `safe` here.
  route(
    app,
    { method: 'GET', url: '/v1/backups/:id', scopes: ['read', 'pre_change'], params: backupIdParams },
    async ({ params }, req) => {
      const detail = await rt.backups.detail(params.id);
      const principal = req.principal!;
      assertHostInScope(principal, detail.backup.host);
      const view = {
        ...describeBackup(detail),
        ...describeSafety(detail, { offsiteCopies: rt.config.safeOffsiteCopies }),
      };
      return scopedView(principal, detail, view);
    },
  );

  // What a waiting service polls: status, stages, copies and `safe`, from one query that reads no
  // file row (GET /v1/backups/:id carries the seed entry, file map and all).
  route(
    app,
    { method: 'GET', url: '/v1/backups/:id/state', scopes: ['read', 'pre_change'], params: backupIdParams },
    async ({ params }, req) => {
      const state = await backupProgress(rt.pool, params.id);
      if (!state) throw new NotFoundFailure(`backup ${params.id} does not exist`, { backupId: params.id });
      const principal = req.principal!;
      assertHostInScope(principal, state.backup.host);
      assertPathsInScope(principal, state.backup);
      const { backup } = state;
      return {
        id: backup.id,
        host: backup.host,
        kind: backup.kind,
        key: backup.key,
        status: backup.status,
        missing: backup.missing,
        stages: state.stages.map(stageView),
        copies: state.copies.map(copyView),
        ...describeSafety(state, { offsiteCopies: rt.config.safeOffsiteCopies }),
      };
    },
  );
}
