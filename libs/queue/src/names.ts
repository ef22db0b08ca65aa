/** Queue of one host's agent: the only consumer of jobs that touch that host's files. */
export function hostQueueName(host: string): string {
  return `host.${host}`;
}

/** Queue of the pool workers: stages that need only targets and Postgres. */
export const POOL_QUEUE = 'pool';

export const DEFAULT_PREFIX = 'fleet-backup';
