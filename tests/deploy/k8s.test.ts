import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFileSchema } from '@fleet-backup/config';
import { hostIdSchema } from '@fleet-backup/core';
import { POOL_QUEUE } from '@fleet-backup/queue';
import { isolate, serviceUrls } from '@fleet-backup/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { commandWorks, readText, readYaml, readYamlDocs, repoPath, unreadEnvNames } from './support.ts';

const DIR = 'infra/k8s';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: EnvVar[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  configMap?: { name: string };
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  serviceAccountName?: string;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: { name: string; port: number; targetPort: string | number }[];
    scaleTargetRef?: { name: string };
    minReplicaCount?: number;
    triggers?: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[];
    secretTargetRef?: { parameter: string; name: string; key: string }[];
  };
  stringData?: Record<string, string>;
}
interface Kustomization {
  namespace: string;
  resources: string[];
  configMapGenerator: { name: string; files: string[] }[];
  images: { name: string; newName: string; newTag: string }[];
}

const kustomization = readYaml<Kustomization>(`${DIR}/kustomization.yaml`);
/** The operator's copy of secrets.example.yaml; the repository holds only the template. */
const OPERATOR_SECRETS = 'secrets.yaml';
const manifestFiles = readdirSync(repoPath(DIR)).filter(
  (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
);
const manifests = manifestFiles.flatMap((f) => readYamlDocs<Manifest>(`${DIR}/${f}`));
const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const one = (kind: string, name: string) => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${DIR}`);
  return found;
};
const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'DaemonSet');
const podSpec = (m: Manifest) => m.spec!.template!.spec;
const containers = workloads.flatMap((w) => podSpec(w).containers.map((c) => ({ workload: w, c })));
const secret = one('Secret', 'fleet-backup-secrets');

const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  Secret: 'v1',
  Service: 'v1',
  Deployment: 'apps/v1',
  DaemonSet: 'apps/v1',
  ScaledObject: 'keda.sh/v1alpha1',
  TriggerAuthentication: 'keda.sh/v1alpha1',
};

/** Kubernetes memory quantities we use (Mi, Gi) in MiB. */
function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

function envOf(c: Container): Record<string, EnvVar> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
}

describe('infra/k8s manifests', () => {
  it('lists in the kustomization every manifest file, and only files that exist', () => {
    const templates = manifestFiles.filter((f) => f.endsWith('.example.yaml'));
    expect(templates).toEqual(['secrets.example.yaml']);
    // secrets.yaml is the operator's filled-in copy: absent here, so an apply without it fails.
    expect(kustomization.resources).toContain(OPERATOR_SECRETS);
    expect(manifestFiles).not.toContain(OPERATOR_SECRETS);
    const expected = manifestFiles.filter((f) => !templates.includes(f));
    expect(kustomization.resources.filter((r) => r !== OPERATOR_SECRETS).sort()).toEqual(expected.sort());
    expect(kustomization.namespace).toBe(one('Namespace', 'fleet-backup').metadata.name);
  });

  it('gives every document an apiVersion, kind and name, and known kinds their API version', () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) {
      expect(m.metadata?.name, JSON.stringify(m).slice(0, 80)).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      expect(API_VERSIONS[m.kind], `${m.kind} ${m.metadata.name}`).toBe(m.apiVersion);
    }
    expect(
      byKind('Deployment')
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(['fleet-backup-producer', 'fleet-backup-worker']);
    expect(byKind('DaemonSet').map((m) => m.metadata.name)).toEqual(['fleet-backup-agent']);
  });

  it('selects exactly the pods each workload and Service templates', () => {
    for (const w of workloads) {
      const selector = w.spec!.selector!.matchLabels!;
      expect(Object.keys(selector).length).toBeGreaterThan(0);
      expect(w.spec!.template!.metadata.labels, w.metadata.name).toMatchObject(selector);
    }
    const service = one('Service', 'fleet-backup-producer');
    const producer = one('Deployment', 'fleet-backup-producer');
    expect(producer.spec!.template!.metadata.labels).toMatchObject(service.spec!.selector!);
    // No other workload's pods fall under the Service's selector.
    for (const w of workloads.filter((x) => x !== producer))
      expect(w.spec!.template!.metadata.labels).not.toMatchObject(service.spec!.selector!);
    const ports = podSpec(producer).containers[0]!.ports!.map((p) => p.name);
    for (const p of service.spec!.ports!) expect(ports).toContain(p.targetPort);
  });

  it('gives every container an image the kustomization pins, resources and a hardened context', () => {
    const pinned = kustomization.images.map((i) => i.name);
    for (const { workload, c } of containers) {
      const where = `${workload.metadata.name}/${c.name}`;
      expect(pinned, where).toContain(c.image);
      expect(c.resources?.requests?.cpu, where).toBeDefined();
      expect(c.resources?.requests?.memory, where).toBeDefined();
      expect(c.resources?.limits?.memory, where).toBeDefined();
      expect(mebibytes(c.resources!.limits!.memory!)).toBeGreaterThanOrEqual(
        mebibytes(c.resources!.requests!.memory!),
      );
      expect(c.securityContext, where).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      // A read-only root needs somewhere to write temporary files.
      expect(
        c.volumeMounts?.map((m) => m.mountPath),
        where,
      ).toContain('/tmp');
      expect(podSpec(workload).securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
    }
  });

  it('runs the producer and workers as the image user, never root', () => {
    const uid = Number(/^USER (\d+)/m.exec(readText('infra/docker/Dockerfile'))?.[1]);
    for (const name of ['fleet-backup-producer', 'fleet-backup-worker']) {
      const spec = podSpec(one('Deployment', name));
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid });
      expect(spec.containers[0]!.securityContext?.capabilities?.add).toBeUndefined();
    }
  });

  it('probes the producer on /healthz and /readyz, and the workers and agents on their metrics port', () => {
    const producer = podSpec(one('Deployment', 'fleet-backup-producer')).containers[0]!;
    expect(producer.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(producer.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(producer.ports).toEqual([{ name: 'http', containerPort: Number(envOf(producer).PORT?.value) }]);
    for (const c of containers.map((x) => x.c)) {
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
        expect(probe?.httpGet, c.name).toBeDefined();
        expect(c.ports?.map((p) => p.name)).toContain(probe!.httpGet!.port);
      }
    }
    for (const c of containers.map((x) => x.c).filter((x) => x !== producer)) {
      expect(c.ports).toEqual([{ name: 'metrics', containerPort: Number(envOf(c).METRICS_PORT?.value) }]);
      expect(envOf(c).METRICS_BIND?.value).toBe('0.0.0.0');
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    }
  });

  it('runs one agent per node with its host id from the node name, sources read-only and /backup', () => {
    const agent = one('DaemonSet', 'fleet-backup-agent');
    const spec = podSpec(agent);
    const c = spec.containers[0]!;
    const env = envOf(c);
    expect(c.args).toEqual(['agent']);
    expect(env.FLEET_BACKUP_HOST?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(env.BACKUP_ROOT?.value).toBe('/backup');
    // Measured peak RSS 170 MiB (one job at a time): the limit must leave room above it.
    expect(mebibytes(c.resources!.limits!.memory!)).toBeGreaterThan(170 * 1.5);
    expect(env.AGENT_CONCURRENCY).toBeUndefined();
    // Root with the one capability that reads any file (see the manifest for why).
    expect(c.securityContext?.capabilities?.add).toEqual(['DAC_READ_SEARCH']);

    const hostPaths = new Map(spec.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
    const hostMounts = c.volumeMounts!.filter((m) => hostPaths.has(m.name));
    const backup = hostMounts.find((m) => m.mountPath === '/backup');
    expect(hostPaths.get(backup!.name)).toBe('/backup');
    expect(backup!.readOnly).toBeFalsy();
    for (const m of hostMounts.filter((x) => x !== backup)) expect(m.readOnly, m.mountPath).toBe(true);

    // The example config's sources are all inside the agent's read-only host mounts.
    const config = configFileSchema.parse(JSON.parse(readText(`${DIR}/config.json`)));
    for (const [host, hostConfig] of Object.entries(config.hosts)) {
      expect(hostIdSchema.safeParse(host).success, host).toBe(true);
      for (const source of hostConfig.sources) {
        const inside = hostMounts.some(
          (m) => m !== backup && (source.path === m.mountPath || source.path.startsWith(`${m.mountPath}/`)),
        );
        expect(inside, `${host}: ${source.path}`).toBe(true);
      }
    }
  });

  it('maps node names to host ids unchanged up to 63 characters, and refuses longer ones', () => {
    for (const node of [
      'ip-10-0-1-23.eu-west-1.compute.internal',
      'gke-prod-default-pool-6f1a2b3c-x7k2',
      'node-a',
    ])
      expect(hostIdSchema.parse(node)).toBe(node);
    expect(hostIdSchema.safeParse(`n${'x'.repeat(63)}`).success).toBe(false);
  });

  it('reads every credential from the Secret, whose template has each key and no value', () => {
    const refs = containers.flatMap(({ c }) =>
      (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])),
    );
    const auth = one('TriggerAuthentication', 'fleet-backup-redis').spec!.secretTargetRef!;
    const all = [...refs, ...auth];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of all) {
      expect(ref.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData!), ref.key).toContain(ref.key);
    }
    // No stale key in the template, and no placeholder that could run as a real credential.
    expect(new Set(all.map((r) => r.key))).toEqual(new Set(Object.keys(secret.stringData!)));
    for (const [key, value] of Object.entries(secret.stringData!)) expect(value, key).toBe('');
    // A credential never sits in a manifest as a plain value.
    for (const { c } of containers)
      for (const e of c.env ?? [])
        if (/TOKEN|PASSWORD|SECRET|KEY|_URL$/.test(e.name))
          expect(e.value, `${c.name} ${e.name}`).toBeUndefined();
  });

  it('mounts the config file from the generated ConfigMap on the producer only, and that config is valid', () => {
    const generated = kustomization.configMapGenerator.map((g) => g.name);
    for (const w of workloads) {
      const config = podSpec(w).volumes!.find((v) => v.configMap);
      const file = envOf(podSpec(w).containers[0]!).FLEET_BACKUP_CONFIG?.value;
      // Workers and agents run on the catalog's version: a file of their own could only differ.
      if (w.metadata.name !== 'fleet-backup-producer') {
        expect({ config, file }, w.metadata.name).toEqual({ config: undefined, file: undefined });
        continue;
      }
      expect(generated, w.metadata.name).toContain(config!.configMap!.name);
      const mountPath = podSpec(w).containers[0]!.volumeMounts!.find(
        (m) => m.name === config!.name,
      )!.mountPath;
      expect(file).toBe(`${mountPath}/${kustomization.configMapGenerator[0]!.files[0]}`);
    }
    expect(() => configFileSchema.parse(JSON.parse(readText(`${DIR}/config.json`)))).not.toThrow();
  });

  it('sets only environment variables that fleet-backup reads', () => {
    const names = containers.flatMap(({ c }) => (c.env ?? []).map((e) => e.name));
    expect(unreadEnvNames(names)).toEqual([]);
  });

  it('scales the workers on the pool queue, never to zero', () => {
    const scaled = one('ScaledObject', 'fleet-backup-worker');
    const worker = one('Deployment', 'fleet-backup-worker');
    const prefix = envOf(podSpec(worker).containers[0]!).QUEUE_PREFIX?.value;
    expect(scaled.spec!.scaleTargetRef!.name).toBe(worker.metadata.name);
    expect(scaled.spec!.minReplicaCount).toBeGreaterThanOrEqual(1);
    const lists = scaled.spec!.triggers!.map((t) => t.metadata.listName);
    expect(lists).toEqual([`${prefix}:${POOL_QUEUE}:wait`, `${prefix}:${POOL_QUEUE}:active`]);
    for (const t of scaled.spec!.triggers!) {
      expect(t.type).toBe('redis');
      expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
      expect(t.authenticationRef?.name).toBe('fleet-backup-redis');
    }
  });
});

describe.skipIf(!(await serviceUrls()))('the KEDA trigger reads the list BullMQ really uses', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('a waiting pool job is one entry of <prefix>:pool:wait', async () => {
    const iso = await isolate((await serviceUrls())!, 'k8s-keda');
    cleanups.push(() => iso.cleanup());
    const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(POOL_QUEUE, { connection: redis, prefix: iso.queuePrefix });
    cleanups.unshift(async () => {
      await queue.close();
      redis.disconnect();
    });
    const list = `${iso.queuePrefix}:${POOL_QUEUE}:wait`;
    expect(await redis.llen(list)).toBe(0);
    await queue.add('gc', {}, { jobId: 'keda-probe-1' });
    await queue.add('gc', {}, { jobId: 'keda-probe-2' });
    expect(await redis.type(list)).toBe('list');
    expect(await redis.llen(list)).toBe(2);
  });
});

describe.skipIf(!kubectlWorks())('kubectl kustomize builds infra/k8s', () => {
  it('renders every resource, with the secrets template standing in for the operator copy', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fbt-k8s-'));
    try {
      cpSync(repoPath(DIR), dir, { recursive: true });
      cpSync(path.join(dir, 'secrets.example.yaml'), path.join(dir, OPERATOR_SECRETS));
      const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      const docs = parseAllDocuments(out).map((d) => d.toJS() as Manifest);
      const kinds = docs.map((d) => d.kind).sort();
      expect(kinds).toEqual(
        [...manifests.map((m) => m.kind), ...kustomization.configMapGenerator.map(() => 'ConfigMap')].sort(),
      );
      // The generated ConfigMap's hashed name is what the producer mounts.
      const configMap = docs.find((d) => d.kind === 'ConfigMap')!.metadata.name;
      expect(configMap).toMatch(/^fleet-backup-config-[a-z0-9]+$/);
      const producer = docs.find(
        (d) => d.kind === 'Deployment' && d.metadata.name === 'fleet-backup-producer',
      )!;
      expect(podSpec(producer).volumes!.find((v) => v.configMap)!.configMap!.name).toBe(configMap);
      const image = kustomization.images[0]!;
      for (const w of docs.filter((d) => d.spec?.template))
        for (const c of podSpec(w).containers) expect(c.image).toBe(`${image.newName}:${image.newTag}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function kubectlWorks(): boolean {
  if (commandWorks('kubectl', ['kustomize', '--help'])) return true;
  console.log('SKIP kubectl kustomize: no kubectl on this machine (the structural checks above still ran)');
  return false;
}
