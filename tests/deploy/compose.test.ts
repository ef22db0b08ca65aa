import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFileSchema } from '@fleet-backup/config';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import { shebang } from '../bench/launch.ts';
import { commandWorks, missing, REPO, readText, readYaml, repoPath, unreadEnvNames } from './support.ts';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  container_name?: string;
  hostname?: string;
  profiles?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  deploy?: unknown;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

const COMPOSE_FILE = 'docker-compose.yml';
const compose = readYaml<Compose>(COMPOSE_FILE);
const services = compose.services;
const fleetConfig = configFileSchema.parse(JSON.parse(readText('infra/compose/config.json')));

/** The roles built from our image: producer, worker and the agents. */
const appServices = Object.entries(services).filter(([, s]) => s.image === 'fleet-backup:dev');
const agents = appServices.filter(([, s]) => s.command?.[0] === 'agent');

interface Mount {
  source: string | null;
  target: string;
  readOnly: boolean;
  kind: 'bind' | 'volume' | 'anonymous';
}

/** A short-syntax volume entry: `source:target[:ro]`, or a bare target for an anonymous volume. */
function mount(entry: string): Mount {
  const parts = entry.split(':');
  if (parts.length === 1) return { source: null, target: parts[0]!, readOnly: false, kind: 'anonymous' };
  const [source, target, mode] = parts as [string, string, string | undefined];
  const kind = source.startsWith('.') || source.startsWith('/') ? 'bind' : 'volume';
  return { source, target, readOnly: mode === 'ro', kind };
}

function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map(mount);
}

function env(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

/** `flag value` appears in the command as two adjacent items. */
function hasFlag(command: string[] | undefined, flag: string, value: string): boolean {
  const i = (command ?? []).indexOf(flag);
  return i >= 0 && command?.[i + 1] === value;
}

describe('docker-compose.yml', () => {
  it('asks for every secret from the environment, with no default, and env.example lists each', () => {
    const text = readText(COMPOSE_FILE).replace(/^\s*#.*$/gm, '');
    // `$${VAR}` is an escaped dollar for the container's shell, not compose interpolation.
    const uses = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}/g)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [whole, , rest] of uses)
      expect(rest, `${whole} must fail loudly when unset`).toMatch(/^:\?\S/);
    const required = new Set(uses.map((m) => m[1]!));
    const example = readText('infra/compose/env.example');
    const listed = [...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)];
    expect(new Set(listed.map((m) => m[1]))).toEqual(required);
    // Empty in the template: a copied, unfilled .env stops compose instead of using a placeholder.
    for (const [line, , value] of listed) expect(value, line).toBe('');
  });

  it('runs redis with appendonly and noeviction, on a volume', () => {
    const redis = services.redis!;
    expect(hasFlag(redis.command, '--appendonly', 'yes')).toBe(true);
    expect(hasFlag(redis.command, '--maxmemory-policy', 'noeviction')).toBe(true);
    expect(mounts(redis).find((m) => m.target === '/data')?.kind).toBe('volume');
  });

  it('keeps postgres on a named volume', () => {
    const data = mounts(services.postgres!).find((m) => m.target === '/var/lib/postgresql/data');
    expect(data?.kind).toBe('volume');
    expect(compose.volumes).toHaveProperty(data!.source!);
  });

  it('creates the MinIO bucket before any role starts, and runs fake-gcs-server', () => {
    const job = services['minio-buckets']!;
    expect(job.command?.join(' ')).toMatch(/mc mb --ignore-existing local\/fleet-backup/);
    expect(job.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    for (const [name, s] of appServices) {
      expect(s.depends_on, name).toMatchObject({
        'minio-buckets': { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
      });
    }
    expect(services['fake-gcs']?.image).toMatch(/^fsouza\/fake-gcs-server:/);
    // The config's targets name the bucket the job creates and the emulators' service names.
    const urls = fleetConfig.targets.map((t) => t.url);
    expect(urls).toContain('s3://fleet-backup/fleet?endpoint=http://minio:9000&forcePathStyle=true');
    expect(urls.some((u) => u.startsWith('gs://fleet-backup/') && u.includes('http://fake-gcs:4443'))).toBe(
      true,
    );
  });

  it('checks the producer on /readyz of its own port', () => {
    const producer = services.producer!;
    const e = env(producer);
    expect(producer.command).toEqual(['producer']);
    expect(producer.healthcheck?.test).toEqual(['CMD', 'node', '/app/healthcheck.mjs']);
    expect(e.HEALTHCHECK_URL).toBe(`http://127.0.0.1:${e.PORT}/readyz`);
    expect(e.BIND_ADDRESS).toBe('0.0.0.0');
    expect(producer.ports).toEqual([`127.0.0.1:${e.PORT}:${e.PORT}`]);
  });

  it('lets `--scale worker=N` run N workers: no fixed name, host port or private volume', () => {
    const worker = services.worker!;
    expect(worker.command).toEqual(['worker']);
    expect(worker.container_name).toBeUndefined();
    expect(worker.hostname).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    // Shared named volumes are fine for N replicas; a host-bound /backup would not be.
    expect(mounts(worker).map((m) => m.target)).not.toContain('/backup');
    expect(env(worker)).toMatchObject({ METRICS_PORT: '9464', METRICS_BIND: '0.0.0.0' });
  });

  it('runs two example agents, each with its own host id, sources and /backup volume', () => {
    expect(agents.length).toBeGreaterThanOrEqual(2);
    const hosts = agents.map(([, s]) => env(s).FLEET_BACKUP_HOST);
    expect(new Set(hosts).size).toBe(agents.length);
    const backupVolumes = new Set<string>();
    const sourceMounts = new Set<string>();
    for (const [name, agent] of agents) {
      const e = env(agent);
      const hostConfig = fleetConfig.hosts[e.FLEET_BACKUP_HOST!];
      expect(
        hostConfig,
        `${name}: host ${e.FLEET_BACKUP_HOST} is in infra/compose/config.json`,
      ).toBeDefined();
      expect(e.BACKUP_ROOT).toBe('/backup');
      const backup = mounts(agent).find((m) => m.target === '/backup');
      expect(backup?.kind, name).toBe('volume');
      expect(compose.volumes).toHaveProperty(backup!.source!);
      backupVolumes.add(backup!.source!);
      // Every configured source is inside a read-only mount of this agent's own.
      for (const source of hostConfig!.sources) {
        const m = mounts(agent).find(
          (x) => source.path === x.target || source.path.startsWith(`${x.target}/`),
        );
        expect(m?.readOnly, `${name}: source ${source.path} is mounted read-only`).toBe(true);
        sourceMounts.add(m!.source!);
      }
    }
    expect(backupVolumes.size).toBe(agents.length);
    expect(sourceMounts.size).toBeGreaterThanOrEqual(agents.length);
  });

  it('mounts only local paths that exist', () => {
    const binds = Object.values(services).flatMap((s) => mounts(s).filter((m) => m.kind === 'bind'));
    expect(binds.length).toBeGreaterThan(0);
    expect(missing(binds.map((m) => m.source!))).toEqual([]);
  });

  it('sets only environment variables that fleet-backup reads', () => {
    const names = appServices.flatMap(([, s]) => Object.keys(env(s)));
    expect(unreadEnvNames(names)).toEqual([]);
  });

  describe('profile monitoring', () => {
    const prometheus = services.prometheus!;
    const grafana = services.grafana!;

    it('holds Prometheus and Grafana only, so a plain `up` starts neither', () => {
      const inProfile = Object.entries(services).filter(([, s]) => s.profiles?.includes('monitoring'));
      expect(inProfile.map(([n]) => n).sort()).toEqual(['grafana', 'prometheus']);
      expect(Object.values(services).filter((s) => s.profiles && !s.profiles.includes('monitoring'))).toEqual(
        [],
      );
    });

    it('scrapes the producer, every worker replica and every agent where they listen', () => {
      interface ScrapeConfig {
        job_name: string;
        metrics_path?: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; type: string; port: number }[];
      }
      const config = readYaml<{ rule_files: string[]; scrape_configs: ScrapeConfig[] }>(
        'infra/prometheus/prometheus.yml',
      );
      const job = (name: string) => config.scrape_configs.find((c) => c.job_name === name)!;
      const staticTargets = (c: ScrapeConfig) => (c.static_configs ?? []).flatMap((s) => s.targets);
      expect(staticTargets(job('fleet-backup-producer'))).toEqual([
        `producer:${env(services.producer!).PORT}`,
      ]);
      expect(job('fleet-backup-worker').dns_sd_configs).toEqual([
        expect.objectContaining({
          names: ['worker'],
          type: 'A',
          port: Number(env(services.worker!).METRICS_PORT),
        }),
      ]);
      expect(staticTargets(job('fleet-backup-agent')).sort()).toEqual(
        agents.map(([name, s]) => `${name}:${env(s).METRICS_PORT}`).sort(),
      );
      for (const c of config.scrape_configs) expect(c.metrics_path ?? '/metrics').toBe('/metrics');

      // The rules: the glob names the mounted directory, which holds the fleet-backup rules.
      const rulesMount = mounts(prometheus).find((m) => m.target === '/etc/prometheus/rules');
      expect(rulesMount?.readOnly).toBe(true);
      expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.rules.yml']);
      const ruleFiles = readdirSync(repoPath(rulesMount!.source!)).filter((f) =>
        minimatch(`/etc/prometheus/rules/${f}`, config.rule_files[0]!),
      );
      expect(ruleFiles).toContain('fleet-backup.rules.yml');
      // promtool's unit tests sit beside the rules and must not be loaded as rules.
      expect(ruleFiles.filter((f) => f.endsWith('.test.yml'))).toEqual([]);
    });

    it.skipIf(!promtoolWorks())('passes `promtool check config`, rules included', () => {
      // The rule glob names the container's mount; point it at the repository's directory.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fbt-prometheus-'));
      try {
        const config = readText('infra/prometheus/prometheus.yml').replaceAll(
          '/etc/prometheus/rules/',
          `${repoPath('infra/prometheus/rules')}/`,
        );
        writeFileSync(path.join(dir, 'prometheus.yml'), config);
        const out = execFileSync('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], {
          encoding: 'utf8',
        });
        expect(out).toMatch(/SUCCESS: .*prometheus\.yml is valid/);
        expect(out).toMatch(/SUCCESS: \d+ rules found/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('provisions Grafana with the Prometheus datasource and the dashboards directory', () => {
      const target = (source: string) => mounts(grafana).find((m) => m.source === source)?.target;
      expect(target('./infra/grafana/provisioning/datasources')).toBe(
        '/etc/grafana/provisioning/datasources',
      );
      expect(target('./infra/grafana/provisioning/dashboards')).toBe('/etc/grafana/provisioning/dashboards');
      const dashboardsDir = target('./infra/grafana/dashboards');

      const datasources = readYaml<{ datasources: { uid: string; type: string; url: string }[] }>(
        'infra/grafana/provisioning/datasources/prometheus.yml',
      ).datasources;
      expect(datasources).toEqual([
        expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', uid: 'prometheus' }),
      ]);
      const providers = readYaml<{ providers: { type: string; options: { path: string } }[] }>(
        'infra/grafana/provisioning/dashboards/fleet-backup.yml',
      ).providers;
      expect(providers).toEqual([expect.objectContaining({ type: 'file', options: expect.anything() })]);
      expect(providers[0]!.options.path).toBe(dashboardsDir);

      const dashboard = readText('infra/grafana/dashboards/fleet-backup.json');
      // Panels name the provisioned datasource by uid, or a variable the dashboard resolves.
      const uids = [...dashboard.matchAll(/"datasource"\s*:\s*\{[^}]*"uid"\s*:\s*"([^"]+)"/g)].map(
        (m) => m[1],
      );
      for (const uid of uids) expect(['prometheus', expect.stringMatching(/^\$/)]).toContainEqual(uid);
    });
  });

  it.skipIf(!composeWorks())('passes `docker compose config -q`', () => {
    // Every required variable set to something, as a filled-in .env would.
    const example = readText('infra/compose/env.example');
    const vars = Object.fromEntries(
      [...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => [m[1]!, 'x'.repeat(12)]),
    );
    execFileSync('docker', ['compose', '-f', COMPOSE_FILE, '--profile', 'monitoring', 'config', '-q'], {
      cwd: REPO,
      env: { ...process.env, ...vars },
      stdio: 'pipe',
    });
  });
});

function promtoolWorks(): boolean {
  if (commandWorks('promtool', ['--version'])) return true;
  console.log(
    'SKIP promtool check config: no promtool here (Debian package prometheus; .ci/run installs it)',
  );
  return false;
}

function composeWorks(): boolean {
  if (commandWorks('docker', ['compose', 'version'])) return true;
  console.log('SKIP docker compose config -q: no `docker compose` plugin on this machine (client only)');
  return false;
}

describe('infra/docker/Dockerfile', () => {
  const dockerfile = readText('infra/docker/Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('is multi-stage on node:24-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/^node:24-slim\b/);
  });

  it('builds the bundle, and ships it with production dependencies only', () => {
    expect(dockerfile).toMatch(/npm ci [^\n]*&& npm run build/);
    const deps = stages.find((s) => /^node:24-slim AS deps\b/.test(s))!;
    expect(deps).toMatch(/npm ci --omit=dev/);
    // The final image takes node_modules from the production-only stage, never from the build.
    expect(final).toMatch(/COPY --from=deps \/app\/node_modules /);
    expect(final).not.toMatch(/COPY --from=build \/app\/node_modules/);
    expect(final).toMatch(/COPY --from=build \/app\/services\/launcher\/dist /);
    // The entry point is the file `npm run build` writes (services/launcher/build.ts).
    expect(readText('services/launcher/build.ts')).toMatch(/'fleet-backup': /);
    expect(final).toMatch(/ENTRYPOINT \[[^\]]*"services\/launcher\/dist\/fleet-backup\.js"\]/);
    // The migrations travel with the bundle: every service role applies them at start.
    expect(final).toMatch(/COPY --from=deps \/app\/libs\/db\/migrations /);
  });

  it("runs the bundle as the bin does: the shebang's Node flags and allocator setting", () => {
    const entrypoint = JSON.parse(`[${/^ENTRYPOINT \[(.*)\]$/m.exec(final)![1]}]`) as string[];
    expect(entrypoint.slice(1, -1)).toEqual(shebang.nodeFlags);
    expect(shebang.env).toEqual({ MALLOC_ARENA_MAX: '2' });
    for (const [name, value] of Object.entries(shebang.env))
      expect(final).toContain(`ENV ${name}=${value}\n`);
  });

  it('finds every production package where the bundle looks: root or services/launcher node_modules', () => {
    // The bundle in services/launcher/dist resolves bare imports from services/launcher/node_modules,
    // then /app/node_modules; a production package nested under another workspace would be missed.
    expect(final).toMatch(
      /COPY --from=deps \/app\/services\/launcher\/node_modules \.\/services\/launcher\/node_modules/,
    );
    const lock = JSON.parse(readText('package-lock.json')) as {
      packages: Record<string, { dev?: boolean; version?: string }>;
    };
    const nested = Object.entries(lock.packages).filter(
      ([p, info]) => /^(libs|services|tests)\/[^/]+\/node_modules\//.test(p) && !info.dev,
    );
    const outside = nested
      .map(([p]) => p)
      .filter((p) => !/^services\/(cli|launcher)\/node_modules\//.test(p));
    expect(outside).toEqual([]);
    // The CLI's own versions (its sources run on them) are the bundle's too: the bundle carries its code.
    const inLauncher = (p: string) =>
      lock.packages[p.replace(/^services\/cli\//, 'services/launcher/')]?.version;
    const differing = nested
      .filter(([p]) => p.startsWith('services/cli/node_modules/'))
      .filter(([p, info]) => inLauncher(p) !== info.version)
      .map(([p]) => p);
    expect(differing).toEqual([]);
  });

  it('runs as a numeric non-root user, with a health check', () => {
    const user = [...final.matchAll(/^USER (\S+)/gm)].at(-1)?.[1];
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(final).toMatch(/^HEALTHCHECK .*CMD \["node", "\/app\/healthcheck\.mjs"\]/m);
    expect(final).toMatch(/^COPY infra\/docker\/healthcheck\.mjs /m);
  });

  it('has a .dockerignore that keeps secrets and node_modules out and lets every COPY source in', () => {
    const rules = readText('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Docker's rule: the last matching pattern decides; `!` re-includes.
    const ignored = (p: string) =>
      rules.reduce((acc, rule) => {
        const negated = rule.startsWith('!');
        const pattern = negated ? rule.slice(1) : rule;
        const hit = minimatch(p, pattern, { dot: true }) || p.startsWith(`${pattern}/`);
        return hit ? !negated : acc;
      }, false);
    for (const p of ['.env', 'node_modules', 'libs/db/node_modules', '.git'])
      expect(ignored(p), p).toBe(true);
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    expect(copied.length).toBeGreaterThan(0);
    for (const source of copied) {
      expect(existsSync(path.join(REPO, source)), source).toBe(true);
      expect(ignored(source), `${source} is sent to the build`).toBe(false);
    }
  });
});
