import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { baseUrl } from './http.ts';
import type { GcsEnforcement } from './iam.ts';
import { handle } from './router.ts';
import { SessionStore } from './sessions.ts';
import { GcsStore } from './store.ts';

export interface GcsEmulatorOptions {
  /** Where buckets, objects and upload sessions live; reused across restarts. */
  dir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Bearer tokens and bucket IAM policies (gcs/iam.ts) the emulator holds requests to. */
  enforce?: GcsEnforcement;
}

export interface GcsEmulator {
  /** `http://127.0.0.1:PORT`, for `new Storage({ apiEndpoint })`. */
  endpoint: string;
  port: number;
  /** Closes the listener and drops every open connection at once, like a crashed server. */
  stop(): Promise<void>;
  /** The file holding the object's current bytes, so tests can corrupt it; throws when absent. */
  objectPath(bucket: string, name: string): string;
  /** Creates a bucket directly (no HTTP), for test setup. */
  createBucket(name: string): Promise<void>;
}

/** Starts a GCS JSON-API emulator that keeps object bytes on disk under `dir`. */
export async function startGcsEmulator(opts: GcsEmulatorOptions): Promise<GcsEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const store = await GcsStore.open(opts.dir);
  const sessions = new SessionStore(opts.dir);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    void handle({
      req,
      res,
      url,
      base: baseUrl(req),
      store,
      sessions,
      ...(opts.enforce && { enforce: opts.enforce }),
    });
  });
  // Big uploads on a slow disk may take longer than Node's default 5-minute request timeout.
  server.requestTimeout = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;

  return {
    endpoint: `http://${host}:${port}`,
    port,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
    objectPath(bucket, name) {
      const obj = store.getObject(bucket, name);
      if (!obj) throw new Error(`no object ${name} in bucket ${bucket}`);
      return store.dataFile(obj);
    },
    async createBucket(name) {
      if (!store.getBucket(name)) await store.createBucket(name);
    },
  };
}
