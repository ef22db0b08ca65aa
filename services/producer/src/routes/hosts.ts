import { describeHosts, type Runtime } from '@fleet-backup/runtime';
import type { FastifyInstance } from 'fastify';

/** The fleet: every host with its last daily and whether it is overdue (read scope). */
export async function hostRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  app.get('/v1/hosts', { config: { scopes: ['read'] } }, async () => {
    const hosts = await describeHosts(rt);
    return { hosts, overdue: hosts.filter((h) => h.overdue).map((h) => h.host) };
  });
}
