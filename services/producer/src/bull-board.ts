import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { hostQueueName, POOL_QUEUE } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';

export const BOARD_PATH = '/admin/queues';

/**
 * Mounts Bull Board inside its own encapsulated plugin, behind the auth hook (the board has no
 * login of its own). Queues: the pool queue plus one per known host, refreshed as hosts appear.
 */
export async function mountBullBoard(
  app: FastifyInstance,
  rt: Runtime,
  auth: onRequestHookHandler,
): Promise<() => Promise<void>> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'fleet-backup' } },
  });
  const refresh = async () => {
    const names = [POOL_QUEUE, ...(await rt.hosts.list()).map((h) => hostQueueName(h.id))];
    board.replaceQueues(names.map((n) => new BullMQAdapter(rt.queues.queue(n))));
  };
  await refresh();
  await app.register(async (scope) => {
    scope.addHook('onRequest', auth);
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
  return refresh;
}
