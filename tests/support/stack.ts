import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Isolated, isolate, type ServiceUrls } from '@fleet-backup/testkit';
import { RoleProcess, runCli } from './cli.ts';

export interface Stack {
  env: Record<string, string>;
  iso: Isolated;
  /** The fs target's directory (target name "second"). */
  secondDir: string;
  backupRoot: string;
  roles: RoleProcess[];
  /** Starts a role process and waits until it is consuming. */
  start(args: string[], extraEnv?: Record<string, string>, opts?: { wrap?: string[] }): Promise<RoleProcess>;
  cli(args: string[], extraEnv?: Record<string, string>): ReturnType<typeof runCli>;
  stop(): Promise<void>;
}

/**
 * An isolated installation for one test file: its own database, queue prefix, backup root and
 * fs target, and a config file; roles run as separate processes of the real CLI.
 */
export async function createStack(
  services: ServiceUrls,
  label: string,
  opts: {
    hosts?: Record<string, unknown>;
    targets?: Record<string, unknown>[];
    fsTarget?: boolean;
    /** More top-level config file settings (e.g. `lifecycle`). */
    config?: Record<string, unknown>;
    /** More environment for every role and command (e.g. ENCRYPTION_KEY). */
    env?: Record<string, string>;
  } = {},
): Promise<Stack> {
  const iso = await isolate(services, label);
  const secondDir = path.join(iso.dir, 'second');
  const backupRoot = path.join(iso.dir, 'backup');
  await mkdir(secondDir, { recursive: true });
  const configFile = path.join(iso.dir, 'config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      ...opts.config,
      hosts: opts.hosts ?? {},
      targets: [
        ...(opts.fsTarget === false ? [] : [{ name: 'second', url: `file://${secondDir}` }]),
        ...(opts.targets ?? []),
      ],
    }),
  );
  const env: Record<string, string> = {
    REDIS_URL: iso.redisUrl,
    DATABASE_URL: iso.databaseUrl,
    QUEUE_PREFIX: iso.queuePrefix,
    BACKUP_ROOT: backupRoot,
    FLEET_BACKUP_CONFIG: configFile,
    DATA_DIR: path.join(iso.dir, 'var'),
    JOB_LOCK_MS: '4000',
    LOG_LEVEL: 'info',
    PORT: '0',
    // The producer refuses to start Bull Board without a login (tests/ui logs in with it).
    BOARD_ADMIN_PASSWORD: 'stack-board-admin-password',
    ...opts.env,
  };
  const roles: RoleProcess[] = [];
  return {
    env,
    iso,
    secondDir,
    backupRoot,
    roles,
    async start(args, extraEnv = {}, startOpts = {}) {
      const role = new RoleProcess(args, { ...env, ...extraEnv }, startOpts);
      roles.push(role);
      await role.waitForLog(args[0] === 'producer' ? 'producer listening' : /"msg":"(worker|agent) ready"/);
      return role;
    },
    cli: (args, extraEnv = {}) => runCli(args, { ...env, ...extraEnv }),
    async stop() {
      await Promise.all(roles.map((r) => r.stop()));
      await iso.cleanup();
    },
  };
}
