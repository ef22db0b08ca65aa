import { describeHosts, type Runtime } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';

/** The fleet: every host with its last daily and whether it is overdue (read scope). */
export async function hostRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  route(app, { method: 'GET', url: '/v1/hosts', scopes: ['read'] }, async () => {
    const hosts = await describeHosts(rt);
    return { hosts, overdue: hosts.filter((h) => h.overdue).map((h) => h.host) };
  });
}
