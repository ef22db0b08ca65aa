import path from 'node:path';
import { type Command, examplesHelp, wholeNumber } from '@fleet-backup/cli';
import { type Config, loadConfig } from '@fleet-backup/config';
import type { BackupRow } from '@fleet-backup/db';
import {
  applier,
  applyConfig,
  openRuntime,
  type Runtime,
  requestBackup,
  startMemoryGovernor,
  startMetricsServer,
  startOnCatalog,
  versionDoc,
} from '@fleet-backup/runtime';
import { redactUrl } from '@fleet-backup/storage';
import type { Role } from '@fleet-backup/worker';
import { shellWord } from './shell-word.ts';

// Roles load lazily: an agent process need not carry the producer's web stack, nor the emulators.
const producerRole = () => import('@fleet-backup/producer');
const workerRoles = () => import('@fleet-backup/worker');

/** Runs roles until SIGTERM/SIGINT, then releases jobs, closes connections and exits 0. */
async function serve(config: Config, name: string, start: (rt: Runtime) => Promise<Role[]>): Promise<void> {
  const rt = await openRuntime(config, { name, migrate: true, checkRedis: true, catalog: true });
  // The producer (and `start`) applies its file when it differs from the newest version; any
  // other role runs on the catalog's version and says so when its file differs.
  await startOnCatalog(rt, { applyFile: name === 'producer' || name === 'start' });
  const stopGovernor = startMemoryGovernor(config.gcSlackBytes);
  const roles = await start(rt);
  await new Promise<void>((resolve) => {
    let stopped = false;
    const stop = (signal: string) => {
      if (stopped) return;
      stopped = true;
      clearInterval(orphan);
      rt.log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    const orphan = whenOrphaned(() => stop('its npm parent exited'));
  });
  // In order: stop taking work, finish or release jobs, then what jobs depend on (emulators).
  for (const role of roles) await role.close();
  stopGovernor();
  await rt.close();
  rt.log.info('stopped');
}

/**
 * Started through npm (`npx fleet-backup agent`), a role runs under npm and a shell. SIGTERM to the
 * PID npx shows ends npm and the shell, but not the role, which went on orphaned: two agents for
 * one host ran side by side. So a role npm started stops as on SIGTERM once its parent is gone.
 * A role started otherwise (systemd, a container, nohup) is left alone: outliving a parent is
 * what nohup is for.
 */
function whenOrphaned(stop: () => void): NodeJS.Timeout | undefined {
  if (!process.env.npm_command) return undefined;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500);
  timer.unref();
  return timer;
}

/** Workers and agents have no API: they serve /metrics, /healthz and /readyz on METRICS_PORT, when set. */
async function withMetricsServer(rt: Runtime, roles: Role[]): Promise<Role[]> {
  const server = await startMetricsServer(rt);
  return server ? [...roles, server] : roles;
}

const DEV_BANNER = [
  '!! ======================================================================',
  '!! DEV MODE (embedded defaults or FLEET_BACKUP_DEV=1): NOT FOR PRODUCTION.',
  '!! Without BOARD_ADMIN_PASSWORD, API_TOKEN or a token, Bull Board and the',
  '!! API answer clients on this machine without a login.',
  '!! ======================================================================',
].join('\n');

export function registerServeCommands(program: Command): void {
  program
    .command('start')
    .description(
      'every role in one process (producer, API, Bull Board, pool worker, agent for this host); backs up this host now',
    )
    .addHelpText('after', examplesHelp(['fleet-backup start', 'npm start   # the same, from a checkout']))
    .action(async () => {
      const { embeddedSettings } = await import('./defaults.ts');
      const { startProducer } = await producerRole();
      const { startAgent, startPoolWorker } = await workerRoles();
      const settings = await embeddedSettings(loadConfig());
      const { config } = settings;
      await serve(config, 'start', async (rt) => {
        const embedded = config.configFile ? null : await applyEmbedded(rt, config);
        const producer = await startProducer(rt, { token: config.apiToken });
        const roles = [
          producer,
          await startPoolWorker(rt),
          await startAgent(rt, config.host, config.backupRoot),
        ];
        const sources = rt.config.hosts[config.host]?.sources.map((s) => s.path) ?? [];
        if (sources.length) {
          const { backup, created } = await requestBackup(rt, {
            host: config.host,
            kind: 'daily',
            paths: sources,
          });
          console.log(todaysDaily(backup, created, sources));
          console.log(`  local copy:   ${path.join(config.backupRoot, backup.key)}`);
          console.log(`  metadata:     ${path.join(config.backupRoot, 'backup_metadata.json')}`);
        } else
          console.log(
            `no sources configured for host ${config.host}; request backups with \`fleet-backup backup\``,
          );
        for (const t of rt.config.targets) console.log(`  target ${t.name}: ${redactUrl(t.url)}`);
        console.log(
          `configuration: version ${rt.configVersion ?? 'none'} (npx fleet-backup config show; config history)`,
        );
        for (const line of [...settings.notices, ...(embedded?.notices ?? [])]) console.log(line);
        if (config.devMode) console.log(DEV_BANNER);
        console.log(`Bull Board:     ${producer.boardUrl}`);
        console.log(`API:            ${producer.url}/v1/backups`);
        console.log('status:         npx fleet-backup list   (Ctrl-C stops)');
        return [...roles, ...(embedded ? [embedded] : [])];
      });
    });

  program
    .command('producer')
    .description('the API, Bull Board and the reconciler')
    .addHelpText('after', examplesHelp(['FLEET_BACKUP_CONFIG=/etc/fleet-backup.json fleet-backup producer']))
    .action(async () => {
      const config = loadConfig();
      const { startProducer } = await producerRole();
      await serve(config, 'producer', async (rt) => {
        const producer = await startProducer(rt, { token: config.apiToken });
        rt.log.info({ url: producer.url, board: producer.boardUrl }, 'producer listening');
        return [producer];
      });
    });

  program
    .command('worker')
    .description(
      'a pool worker (verify, daily triggers, pre-change intake, restore drills, expire, gc, re-check and repair of targets); run as many as you like',
    )
    .option('--concurrency <n>', 'jobs at once', wholeNumber, 4)
    .addHelpText('after', examplesHelp(['fleet-backup worker --concurrency 8']))
    .action(async (opts: { concurrency: number }) => {
      const { startPoolWorker } = await workerRoles();
      await serve(loadConfig(), 'worker', async (rt) =>
        withMetricsServer(rt, [await startPoolWorker(rt, opts.concurrency)]),
      );
    });

  program
    .command('agent')
    .description("the agent for one host: the only process that reads that host's files")
    .option('--host <id>', 'host id (default FLEET_BACKUP_HOST or the hostname)')
    .addHelpText('after', examplesHelp(['fleet-backup agent --host web-01']))
    .action(async (opts: { host?: string }) => {
      const config = loadConfig(opts.host ? { ...process.env, FLEET_BACKUP_HOST: opts.host } : process.env);
      const { startAgent } = await workerRoles();
      await serve(config, 'agent', async (rt) =>
        withMetricsServer(rt, [await startAgent(rt, config.host, config.backupRoot)]),
      );
    });
}

/**
 * What `start` says of today's daily: a daily is one a day, so a restart after it was made starts
 * nothing, and must not say it is backing up.
 */
function todaysDaily(backup: BackupRow, created: boolean, sources: string[]): string {
  const which = `${backup.key} (id ${backup.id})`;
  if (created) return `backing up ${sources.join(', ')} as ${which}`;
  if (backup.status === 'running') return `today's daily ${which} is under way already: nothing new started`;
  const manual = `npx fleet-backup backup --host ${backup.host} --kind manual --purpose WHY ${sources.map((p) => `--path ${shellWord(p)}`).join(' ')}`;
  return `today's daily ${which} is done (${backup.status}): nothing is backed up again until tomorrow's daily; for one now: ${manual}`;
}

/**
 * `start` without a config file applies its embedded configuration as a version like any other,
 * so every process on the catalog (a CLI in another terminal) sees what it uses; unless an
 * operator's version is current, which `start` then runs on instead, saying so.
 */
async function applyEmbedded(
  rt: Runtime,
  config: Config,
): Promise<{ notices: string[]; close(): Promise<void> }> {
  const current = await rt.configs.current();
  if (current && current.origin !== 'embedded') {
    return {
      notices: [
        `configuration version ${current.version} (${current.origin}, by ${current.appliedBy}) is the catalog's: start runs on it, not on its embedded defaults`,
      ],
      close: async () => {},
    };
  }
  const { embeddedConfig } = await import('./defaults.ts');
  const embedded = await embeddedConfig(config, current ? versionDoc(current) : null);
  try {
    await applyConfig(rt, embedded.doc, { appliedBy: applier('start'), origin: 'embedded' });
  } catch (err) {
    await embedded.close();
    throw err;
  }
  return embedded;
}
