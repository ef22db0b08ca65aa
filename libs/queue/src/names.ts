/** Queue of one host's agent: the only consumer of jobs that touch that host's files. */
export function hostQueueName(host: string): string {
  return `host.${host}`;
}

/**
 * The same agent's urgent lane: every stage job of a pre_change backup, consumed with its own
 * concurrency of 1 so that a deploy never waits behind a long daily. Not `host.<id>.urgent`:
 * host ids may hold dots, so that name could be the normal queue of host `<id>.urgent`.
 */
export function urgentQueueName(host: string): string {
  return `urgent.${host}`;
}

/** Both queues of a host's agent, normal lane first: what the board and the metrics list. */
export function hostQueueNames(host: string): [string, string] {
  return [hostQueueName(host), urgentQueueName(host)];
}

/** True for a queue consumed by a host's agent (either lane). */
export function isHostQueue(name: string): boolean {
  return name.startsWith('host.') || name.startsWith('urgent.');
}

/** Queue of the pool workers: stages that need only targets and Postgres. */
export const POOL_QUEUE = 'pool';

export const DEFAULT_PREFIX = 'fleet-backup';
