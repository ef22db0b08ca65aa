import { sameSecret } from '@fleet-backup/core';
import { migrationsApplied } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';
import { postgresReachable, redisReachable, withTimeout } from './probes.ts';

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * GET /metrics, shared by the producer's server and the worker/agent metrics server. Open unless
 * METRICS_TOKEN is set; then Prometheus must send `Authorization: Bearer <METRICS_TOKEN>`.
 */
export async function scrapeMetrics(rt: Runtime, authorization: string | undefined): Promise<HttpAnswer> {
  if (!metricsAuthorized(rt.config.metricsToken, authorization)) {
    return { status: 401, contentType: TEXT, body: 'metrics need Authorization: Bearer <METRICS_TOKEN>\n' };
  }
  const { registry } = rt.metrics;
  return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
}

/** Whether a request may read metrics: always without a METRICS_TOKEN, else with that bearer token. */
export function metricsAuthorized(token: string | null, authorization: string | undefined): boolean {
  if (token === null) return true;
  const presented = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
  return sameSecret(presented, token);
}

export interface Readiness {
  ready: boolean;
  redis: boolean;
  postgres: boolean;
  migrations: boolean;
}

/** Readiness: Redis and Postgres answer, and every migration this version ships is applied. */
export async function readiness(rt: Runtime): Promise<Readiness> {
  const [redis, postgres] = await Promise.all([redisReachable(rt.redis), postgresReachable(rt.pool)]);
  const migrations =
    postgres && (await withTimeout(migrationsApplied(rt.pool), 2_000, 'migrations').catch(() => false));
  return { ready: redis && postgres && migrations, redis, postgres, migrations };
}

/** GET /readyz as an answer: 200 when ready, else 503, with each check. */
export async function readinessAnswer(rt: Runtime): Promise<HttpAnswer> {
  const checks = await readiness(rt);
  return { status: checks.ready ? 200 : 503, contentType: JSON_TYPE, body: JSON.stringify(checks) };
}
