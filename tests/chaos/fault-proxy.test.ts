/** The fault proxy does what it says, fault by fault, so the chaos verdicts can be trusted. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultKind, type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';

const BODY = Buffer.alloc(100_000, 7);
let upstream: Server;
let upstreamUrl: string;
let upstreamRequests = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamRequests++;
    req.resume();
    res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

/** One GET through the proxy: its status and full body, or the error that ended it. */
async function get(proxy: FaultProxy): Promise<{ status?: number; bytes?: number; error?: string }> {
  try {
    const res = await fetch(`${proxy.endpoint}/storage/v1/b/x/o/y`, { signal: AbortSignal.timeout(10_000) });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, bytes: body.length };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

async function withProxy(kind: FaultKind, fn: (proxy: FaultProxy) => Promise<void>): Promise<void> {
  const proxy = await startFaultProxy({
    upstream: upstreamUrl,
    rate: 1,
    faults: [kind],
    delayMs: [300, 400],
  });
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('fault proxy', () => {
  it('passes requests through untouched at rate 0', async () => {
    const proxy = await startFaultProxy({ upstream: upstreamUrl });
    expect(await get(proxy)).toEqual({ status: 200, bytes: BODY.length });
    expect(proxy.counts).toMatchObject({ requests: 1, passed: 1 });
    expect(proxy.faultsInjected()).toBe(0);
    await proxy.stop();
  });

  it('answers 500 and 503 itself, in the API dialect of the request', async () => {
    for (const [kind, status] of [
      ['http500', 500],
      ['http503', 503],
    ] as const) {
      await withProxy(kind, async (proxy) => {
        const before = upstreamRequests;
        const res = await fetch(`${proxy.endpoint}/storage/v1/b/x/o/y`);
        expect(res.status).toBe(status);
        expect(await res.json()).toMatchObject({ error: { code: status } });
        expect(upstreamRequests).toBe(before);
        expect(proxy.counts[kind]).toBe(1);
      });
    }
  });

  it('drops the connection before forwarding, or after the upstream answered with half a body', async () => {
    await withProxy('dropBeforeForward', async (proxy) => {
      const before = upstreamRequests;
      expect((await get(proxy)).error).toBeDefined();
      expect(upstreamRequests).toBe(before);
    });
    await withProxy('dropAfterAnswer', async (proxy) => {
      const before = upstreamRequests;
      expect((await get(proxy)).error).toBeDefined();
      expect(upstreamRequests).toBe(before + 1);
    });
  });

  it('delays a request, then forwards it', async () => {
    await withProxy('delay', async (proxy) => {
      const started = performance.now();
      expect(await get(proxy)).toEqual({ status: 200, bytes: BODY.length });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    });
  });

  it('refuses or black-holes everything during an outage, and recovers when it ends', async () => {
    const proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.outage('refuse');
    expect((await get(proxy)).error).toBeDefined();
    proxy.outage('blackhole');
    const held = get(proxy);
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.counts.blackholed).toBe(1);
    proxy.outage(null);
    expect((await held).error).toBeDefined();
    expect(await get(proxy)).toEqual({ status: 200, bytes: BODY.length });
    expect(proxy.counts.refused).toBeGreaterThan(0);
    expect(proxy.faultsInjected()).toBe(proxy.counts.refused + 1);
    await proxy.stop();
  });

  it('draws the same faults from the same seed', async () => {
    const run = async () => {
      const proxy = await startFaultProxy({ upstream: upstreamUrl, seed: 5, rate: 0.5, faults: ['http503'] });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await get(proxy)).status ?? 0);
      await proxy.stop();
      return statuses;
    };
    const first = await run();
    expect(first).toContain(503);
    expect(first).toContain(200);
    expect(await run()).toEqual(first);
  });
});
