/**
 * A fault-injecting HTTP proxy for the S3 and GCS emulators (both speak plain HTTP on localhost).
 * Point a target's `endpoint` at `proxy.endpoint` instead of the emulator's, and each request is,
 * by a seeded draw, passed through or given one fault:
 *
 * - `http500`, `http503`: answered by the proxy with that status and an S3 (XML) or GCS (JSON)
 *   error body; the upstream never sees the request.
 * - `dropBeforeForward`: the connection is reset before anything is forwarded.
 * - `dropAfterAnswer`: forwarded, so the upstream acts on it (an upload is stored), then the
 *   connection is reset after the response headers and half of its body (or before any of it
 *   when the body is shorter than 2 bytes).
 * - `delay`: forwarded after a pause of `delayMs` (1–3 s by default).
 *
 * `outage('refuse')` resets every connection and request; `outage('blackhole')` accepts them and
 * never answers (held requests are reset when the outage ends). `counts` says what happened.
 * The same seed gives the same sequence of decisions; which request meets which decision still
 * depends on the order requests arrive in.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from '@fleet-backup/storage/testing/faulty';

export const FAULT_KINDS = ['http500', 'http503', 'dropBeforeForward', 'dropAfterAnswer', 'delay'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type OutageMode = 'refuse' | 'blackhole';

export interface FaultProxyOptions {
  /** Where requests go, e.g. the emulator's `http://127.0.0.1:PORT`. */
  upstream: string;
  /** Seeds the fault script. Default 1. */
  seed?: number;
  /** Share of requests that get a fault, 0 to 1. Default 0: a transparent proxy. */
  rate?: number;
  /** The faults drawn from, each equally likely. Default: all of FAULT_KINDS. */
  faults?: readonly FaultKind[];
  /** Pause of a `delay` fault in ms, [min, max]. Default [1000, 3000]. */
  delayMs?: readonly [number, number];
  /** 0 (the default) picks a free port. */
  port?: number;
}

export type FaultCounts = Record<FaultKind | 'requests' | 'passed' | 'refused' | 'blackholed', number>;

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: use it as the target's endpoint. */
  readonly endpoint: string;
  readonly port: number;
  /** Requests seen, passed through untouched, and faults injected by kind. */
  readonly counts: Readonly<FaultCounts>;
  /** Changes the fault rate or kinds from the next request on (rate 0 stops faults). */
  configure(next: { rate?: number; faults?: readonly FaultKind[] }): void;
  /** Starts (`refuse` or `blackhole`) or ends (`null`) a full outage. */
  outage(mode: OutageMode | null): void;
  /** Every fault injected so far, outages included. */
  faultsInjected(): number;
  stop(): Promise<void>;
}

/** An error body in the dialect of whichever API the request was for. */
function errorBody(req: IncomingMessage, status: number): { type: string; body: string } {
  const gcs = /^\/(upload\/)?storage\/v1\//.test(req.url ?? '') || (req.url ?? '').startsWith('/batch/');
  if (gcs) {
    const message = status === 503 ? 'Service Unavailable (injected)' : 'Internal Error (injected)';
    return { type: 'application/json', body: JSON.stringify({ error: { code: status, message } }) };
  }
  const code = status === 503 ? 'SlowDown' : 'InternalError';
  return {
    type: 'application/xml',
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>`,
  };
}

/** Whether a response carries a body at all (HEAD, 204 and 304 never do, whatever their length says). */
function hasBody(req: IncomingMessage, up: IncomingMessage): true | 'no body' {
  const status = up.statusCode ?? 0;
  return req.method === 'HEAD' || status === 204 || status === 304 ? 'no body' : true;
}

/** A hard drop, as a crashed server or a broken network path gives (RST, not a polite FIN). */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Sends the request on to the upstream and its answer back (cut short when `cut`). */
function forward(upstream: URL, req: IncomingMessage, res: ServerResponse, cut: boolean): void {
  const upstreamReq = httpRequest({
    host: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: req.url,
    // Host stays the proxy's, so the GCS emulator's resumable session URLs come back through it.
    headers: req.headers,
    agent: false,
  });
  upstreamReq.on('error', () => reset(req.socket));
  res.on('close', () => upstreamReq.destroy());
  upstreamReq.on('response', (up) => relay(up, res, cut && hasBody(req, up)));
  req.pipe(upstreamReq);
  req.on('error', () => upstreamReq.destroy());
}

/** Relays the upstream's answer; `cutBody` resets the connection halfway through its body instead. */
function relay(up: IncomingMessage, res: ServerResponse, cutBody: boolean | 'no body'): void {
  const socket = res.socket;
  if (socket === null) return;
  up.on('error', () => reset(socket));
  if (!cutBody) {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
    return;
  }
  const length = Number(up.headers['content-length'] ?? 0);
  if (cutBody === 'no body' || !(length >= 2)) {
    // Nothing (or 1 byte) to cut in half: drop before the answer, after the upstream acted.
    up.resume();
    reset(socket);
    return;
  }
  res.writeHead(up.statusCode ?? 502, up.headers);
  let left = Math.floor(length / 2);
  up.on('data', (chunk: Buffer) => {
    if (left <= 0) return;
    const part = chunk.subarray(0, left);
    left -= part.length;
    res.write(part);
    if (left <= 0) {
      up.destroy();
      // Let the partial body reach the client, then cut the connection.
      setImmediate(() => reset(socket));
    }
  });
  up.on('end', () => reset(socket));
}

/** Answers with an error status of the proxy's own; the upstream never sees the request. */
function answerError(req: IncomingMessage, res: ServerResponse, status: number): void {
  const { type, body } = errorBody(req, status);
  req.resume();
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The fault script and what it did: decides each request's fate. */
class FaultScript {
  rate: number;
  faults: readonly FaultKind[];
  outage: OutageMode | null = null;
  /** Sockets of black-holed requests, reset when the outage ends. */
  readonly held = new Set<Socket>();
  readonly counts: FaultCounts = {
    requests: 0,
    passed: 0,
    refused: 0,
    blackholed: 0,
    ...(Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>),
  };
  private readonly upstream: URL;
  private readonly random: () => number;
  private readonly delay: readonly [number, number];

  constructor(opts: FaultProxyOptions) {
    this.upstream = new URL(opts.upstream);
    this.random = seededRandom(opts.seed ?? 1);
    this.rate = opts.rate ?? 0;
    this.faults = opts.faults ?? FAULT_KINDS;
    this.delay = opts.delayMs ?? [1000, 3000];
  }

  /** This request's fault (or none); always the same number of draws, so the script stays aligned. */
  private draw(): { fault: FaultKind | null; delayMs: number } {
    const hit = this.random() < this.rate;
    const pick = this.random();
    const delayMs = this.delay[0] + this.random() * (this.delay[1] - this.delay[0]);
    const fault = hit ? (this.faults[Math.floor(pick * this.faults.length)] ?? null) : null;
    return { fault, delayMs };
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.counts.requests++;
    if (this.outage === 'refuse') {
      this.counts.refused++;
      reset(req.socket);
      return;
    }
    if (this.outage === 'blackhole') {
      this.counts.blackholed++;
      this.held.add(req.socket);
      return;
    }
    const { fault, delayMs } = this.draw();
    this.counts[fault ?? 'passed']++;
    if (fault === null) forward(this.upstream, req, res, false);
    else if (fault === 'http500' || fault === 'http503')
      answerError(req, res, fault === 'http500' ? 500 : 503);
    else if (fault === 'dropBeforeForward') reset(req.socket);
    else if (fault === 'dropAfterAnswer') forward(this.upstream, req, res, true);
    else {
      // Keep-alive sockets carry many requests: remove the listener once it is not needed.
      const onClose = () => clearTimeout(timer);
      const timer = setTimeout(() => {
        req.socket.off('close', onClose);
        forward(this.upstream, req, res, false);
      }, delayMs);
      req.socket.once('close', onClose);
    }
  }
}

/** Starts the proxy in this process. */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const script = new FaultScript(opts);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => script.handle(req, res));
  // Large uploads through a slow machine must not be cut by Node's own request timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      script.held.delete(socket);
    });
    socket.on('error', () => undefined);
    if (script.outage === 'refuse') {
      script.counts.refused++;
      reset(socket);
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    counts: script.counts,
    configure(next) {
      if (next.rate !== undefined) script.rate = next.rate;
      if (next.faults !== undefined) script.faults = next.faults;
    },
    outage(mode) {
      script.outage = mode;
      if (mode !== null) return;
      for (const socket of script.held) reset(socket);
      script.held.clear();
    },
    faultsInjected: () =>
      FAULT_KINDS.reduce(
        (n, kind) => n + script.counts[kind],
        script.counts.refused + script.counts.blackholed,
      ),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
  };
}
