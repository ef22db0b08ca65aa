import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { unprintable } from '@fleet-backup/core';
import { hostQueueName, POOL_QUEUE, urgentQueueName } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BoardGate, BoardHook } from './board-auth.ts';

export const BOARD_PATH = '/admin/queues';
/** The read-only board, where a viewer opening BOARD_PATH is sent. */
export const READ_ONLY_BOARD_PATH = `${BOARD_PATH}/read-only`;

/** A queue on the board, with the host it belongs to (null for the pool queue) and its lane. */
interface BoardQueue {
  queue: ReturnType<Runtime['queues']['queue']>;
  host: string | null;
  urgent?: boolean;
}

/** How stale the board's queue list may be when someone looks: a new host shows on the next poll. */
const QUEUE_LIST_TTL_MS = 5_000;

/**
 * Mounts the two boards, each in its own encapsulated plugin behind its gate (Bull Board has no
 * login of its own): the full board at BOARD_PATH for admins, and at READ_ONLY_BOARD_PATH a
 * second board over the same queues whose adapters are all `readOnlyMode`, for viewers. Queues:
 * the pool queue plus one per known host, re-read when the board lists them (at most every 5 s)
 * and by the producer's sweep.
 */
export async function mountBullBoard(
  app: FastifyInstance,
  rt: Runtime,
  gate: BoardGate,
): Promise<() => Promise<void>> {
  const boards: ((queues: BoardQueue[]) => void)[] = [];
  let listedAt = Number.NEGATIVE_INFINITY;
  const refresh = async () => {
    listedAt = performance.now();
    const hosts = (await rt.hosts.list()).map((h) => h.id);
    const queues: BoardQueue[] = [
      { queue: rt.queues.queue(POOL_QUEUE), host: null },
      ...hosts.flatMap((host) => [
        { queue: rt.queues.queue(hostQueueName(host)), host },
        { queue: rt.queues.queue(urgentQueueName(host)), host, urgent: true },
      ]),
    ];
    for (const setQueues of boards) setQueues(queues);
  };
  const fresh = async (req: FastifyRequest) => {
    if (req.method !== 'GET' || !req.url.split('?')[0]?.endsWith('/api/queues')) return;
    if (performance.now() - listedAt < QUEUE_LIST_TTL_MS) return;
    // Postgres away: the board keeps the hosts it knew, rather than failing every poll.
    await refresh().catch((err) => rt.log.warn({ err }, 'bull board: cannot re-read the host list'));
  };
  const mount = { devMode: rt.config.devMode, fresh };
  boards.push(
    await mountBoard(app, {
      ...mount,
      path: BOARD_PATH,
      readOnly: false,
      gate: gate.full({ full: BOARD_PATH, readOnly: READ_ONLY_BOARD_PATH }),
    }),
    await mountBoard(app, { ...mount, path: READ_ONLY_BOARD_PATH, readOnly: true, gate: gate.readOnly }),
  );
  await refresh();
  return refresh;
}

interface BoardMount {
  path: string;
  readOnly: boolean;
  gate: BoardHook;
  /** Re-reads the host list before the board lists its queues, when it is stale. */
  fresh: (req: FastifyRequest) => Promise<void>;
  devMode: boolean;
}

/** One board behind its gate; returns the function that sets its queues. */
async function mountBoard(app: FastifyInstance, m: BoardMount): Promise<(queues: BoardQueue[]) => void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(m.path);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: m.readOnly ? 'fleet-backup (read-only)' : 'fleet-backup',
        // With 200+ hosts: host queues form one "host" group, sorted by name, in the sidebar and
        // the overview (the sidebar's search finds one host), with the pool queue beside it.
        sortQueues: true,
        overview: { groupByDelimiter: true },
        // Worker presence costs one CLIENT LIST per queue on every poll (200+ per poll here);
        // whether a host's agent is up is what `fleet-backup hosts` and the metrics report.
        showWorkers: false,
        hideDocsLink: true,
        ...(m.readOnly || m.devMode ? { environment: environmentBadge(m) } : {}),
      },
    },
  });
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', m.gate);
      scope.addHook('preHandler', refuseUndecodable);
      scope.addHook('preHandler', m.fresh);
      // Unknown paths and methods under the board pass the gate too: 401 and 403 come before
      // a 404 could tell anyone which routes exist.
      scope.setNotFoundHandler((req, reply) =>
        reply
          .code(404)
          .send({ error: 'not_found', message: `${req.method} ${req.url} is not a board route` }),
      );
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix: m.path },
  );
  return (queues) => board.replaceQueues(queues.map((q) => queueAdapter(q, m.readOnly)));
}

/**
 * Bull Board decodes some values a second time (`?activeQueue=`) and answers 500 when one does
 * not decode (`%` then a control character). Such a request is the client's mistake: 400 names
 * the parameter before the board sees it, as the API does.
 */
async function refuseUndecodable(
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const parts = { query: req.query, 'path parameter': req.params } as Record<string, unknown>;
  for (const [part, values] of Object.entries(parts)) {
    for (const [name, value] of Object.entries((values ?? {}) as Record<string, unknown>)) {
      for (const v of [value].flat()) {
        if (typeof v !== 'string') continue;
        const why = unprintable(v) ?? (decodes(v) ? null : 'is not valid percent-encoding');
        if (why) {
          const message = `invalid ${part} ${JSON.stringify(name.toWellFormed())}: ${why}`;
          return reply.code(400).send({ error: 'bad_request', message });
        }
      }
    }
  }
  return undefined;
}

function decodes(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * How a queue shows on the board. Queue names are `host.<id>`, `urgent.<id>` and `pool`; the "."
 * delimiter groups every host queue under "host" and every urgent lane under "urgent" (a host id
 * with dots nests one level per dot). The
 * read-only adapters make the board itself refuse writes (405), beneath the gate's 403.
 */
function queueAdapter({ queue, host, urgent }: BoardQueue, readOnlyMode: boolean): BullMQAdapter {
  return new BullMQAdapter(queue, {
    readOnlyMode,
    delimiter: '.',
    displayName: host === null ? 'pool (all workers)' : urgent ? `host ${host} (urgent)` : `host ${host}`,
    description: describeQueue(host, urgent),
  });
}

function describeQueue(host: string | null, urgent: boolean | undefined): string {
  if (host === null)
    return 'Stages any pool worker runs: verify, daily triggers, pre-change intake, restore drills, expire, gc.';
  if (urgent)
    return `The urgent lane of host ${host}'s agent: snapshot, hash and replicate of pre-change backups, one at a time, never behind a daily.`;
  return `Stages run by the agent of host ${host}: snapshot, hash, replicate, refresh-metadata, expire-local.`;
}

function environmentBadge(m: BoardMount): { label: string; color: string } {
  if (m.readOnly) return { label: m.devMode ? 'read-only · dev mode' : 'read-only', color: '#2563eb' };
  return { label: 'dev mode', color: '#b45309' };
}
