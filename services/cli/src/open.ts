import { type Config, loadConfig } from '@fleet-backup/config';
import type { Clock } from '@fleet-backup/core';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';

/** Runs fn with a runtime opened from the environment, and always closes it. */
export async function withRuntime<T>(
  fn: (rt: Runtime) => Promise<T>,
  opts: { migrate?: boolean; config?: Config; clock?: Clock } = {},
): Promise<T> {
  const config = opts.config ?? loadConfig();
  const rt = await openRuntime(config, {
    name: 'cli',
    migrate: opts.migrate ?? true,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
