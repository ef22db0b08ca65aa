import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../runtime.ts';
import { type HttpAnswer, readinessAnswer, scrapeMetrics } from './scrape.ts';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The HTTP surface of a worker or agent, which have no API: /metrics, /healthz (the process
 * answers) and /readyz (Redis and Postgres answer, migrations applied). Started only when
 * METRICS_PORT is set, on METRICS_BIND (default BIND_ADDRESS); null otherwise.
 */
export async function startMetricsServer(rt: Runtime): Promise<MetricsServer | null> {
  const { metricsPort, metricsBind } = rt.config;
  if (metricsPort === null) return null;
  const server = createServer((req, res) => {
    void answer(rt, req.method ?? 'GET', req.url ?? '/', req.headers.authorization).then(
      (a) => res.writeHead(a.status, { 'content-type': a.contentType }).end(a.body),
      (err) => {
        rt.log.error({ err }, 'metrics request failed');
        res.writeHead(500, { 'content-type': JSON_TYPE }).end('{"error":"internal"}');
      },
    );
  });
  await listen(server, metricsPort, metricsBind);
  const { port } = server.address() as AddressInfo;
  const url = `http://${metricsBind.includes(':') ? `[${metricsBind}]` : metricsBind}:${port}`;
  rt.log.info({ url }, 'metrics listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  rt: Runtime,
  method: string,
  url: string,
  authorization: string | undefined,
): Promise<HttpAnswer> {
  const path = url.split('?')[0];
  if (method !== 'GET' && method !== 'HEAD')
    return { status: 405, contentType: JSON_TYPE, body: '{"error":"method not allowed"}' };
  if (path === '/metrics') return scrapeMetrics(rt, authorization);
  if (path === '/healthz') return { status: 200, contentType: JSON_TYPE, body: '{"ok":true}' };
  if (path === '/readyz') return readinessAnswer(rt);
  return { status: 404, contentType: JSON_TYPE, body: '{"error":"not found"}' };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
