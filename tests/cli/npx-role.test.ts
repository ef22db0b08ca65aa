import { spawn } from 'node:child_process';
import path from 'node:path';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, waitFor } from '../support/cli.ts';

const services = await serviceUrls();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The README starts roles as `npx fleet-backup agent …`: npm runs a shell that runs the role. SIGTERM
 * to the PID npx shows ended npm and the shell, and the role went on orphaned (two agents for one
 * host ran side by side for 20 minutes).
 */
describe.skipIf(!services)('a role started through npx', () => {
  let iso: Isolated;
  let rolePid = 0;
  beforeAll(async () => {
    iso = await isolate(services!, 'npx-role');
  });
  afterAll(async () => {
    if (rolePid && alive(rolePid)) process.kill(rolePid, 'SIGKILL');
    await iso?.cleanup();
  });

  it('stops when SIGTERM ends npx, leaving no role process behind', async () => {
    const npx = spawn('npx', ['fleet-backup', 'worker', '--concurrency', '1'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        REDIS_URL: iso.redisUrl,
        DATABASE_URL: iso.databaseUrl,
        QUEUE_PREFIX: iso.queuePrefix,
        DATA_DIR: path.join(iso.dir, 'var'),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    npx.stdout.on('data', (d) => (log += d));
    npx.stderr.on('data', (d) => (log += d));
    const ready = await waitFor(() => /"pid":(\d+)[^\n]*"msg":"worker ready"/.exec(log), {
      timeoutMs: 60_000,
      what: 'the worker to start under npx',
      detail: () => log.slice(-2000),
    });
    rolePid = Number(ready[1]);
    // npm and a shell stand between npx and the role.
    expect(rolePid).not.toBe(npx.pid);
    npx.kill('SIGTERM');
    await waitFor(() => !alive(rolePid), {
      timeoutMs: 20_000,
      what: 'the role to stop once npx is gone',
      detail: () => log.slice(-2000),
    });
    expect(log).toContain('"signal":"its npm parent exited"');
    expect(log).toContain('"msg":"stopped"');
  }, 90_000);
});
