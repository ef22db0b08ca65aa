import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { installDesCompat } from './s3/des-compat.ts';
import { enforcement, registerUsers, type S3Enforcement } from './s3/enforce.ts';
import { FixedFilesystemStore, OBJECT_SUFFIX } from './s3/fixed-store.ts';
import type { S3rverClass } from './s3/s3rver-types.ts';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverClass;

/** s3rver's one built-in account; any other key is rejected with InvalidAccessKeyId. */
export const S3_EMULATOR_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3EmulatorOptions {
  /** Where s3rver keeps buckets and objects; reused across restarts. */
  dir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Buckets to create before serving (s3rver needs names of 3+ characters). */
  buckets?: string[];
  /**
   * Users with their own keys, held to bucket policies (s3/enforce.ts): the stand-in then refuses
   * what S3 would refuse them. s3rver's own key stays unrestricted. `If-None-Match: *` is honoured
   * for every user.
   */
  enforce?: S3Enforcement;
}

export interface S3Emulator {
  /** `http://127.0.0.1:PORT`; use with `forcePathStyle: true` and S3_EMULATOR_CREDENTIALS. */
  endpoint: string;
  port: number;
  /** Closes the listener and drops every open connection at once, like a crashed server. */
  stop(): Promise<void>;
  /** The file s3rver keeps the object's bytes in, so tests can corrupt it. */
  objectPath(bucket: string, key: string): string;
}

/**
 * Starts s3rver in-process, with fixes for its listing order, non-atomic writes, `bytes=0-0`
 * ranges and (on Node >= 17) truncated ListObjectsV2 pages. Clients must set
 * `requestChecksumCalculation`/`responseChecksumValidation` to `WHEN_REQUIRED`: s3rver stores a
 * streamed body's aws-chunked framing as object bytes, and keeps no checksums.
 */
export async function startS3Emulator(opts: S3EmulatorOptions): Promise<S3Emulator> {
  installDesCompat();
  const host = opts.host ?? '127.0.0.1';
  await mkdir(opts.dir, { recursive: true });
  const server = new S3rver({
    address: host,
    port: opts.port ?? 0,
    directory: opts.dir,
    silent: true,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
  });
  const store = new FixedFilesystemStore(opts.dir);
  server.store = store;
  server.context.store = store;
  const objectPath = (bucket: string, key: string) => {
    const parts = key.split('/');
    const last = parts.pop() ?? '';
    return join(opts.dir, bucket, ...parts, `${last}${OBJECT_SUFFIX}`);
  };
  if (opts.enforce) registerUsers(opts.enforce.users);
  // First in the stack: refused requests never reach s3rver's handlers.
  server.middleware.unshift(enforcement(opts.enforce ?? { users: [], policies: {} }, objectPath));
  const address = await server.run();
  const http = server.httpServer;
  if (!http) throw new Error('s3rver did not start an HTTP server');
  http.requestTimeout = 0;
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        http.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        http.closeAllConnections();
      });
      return stopped;
    },
    objectPath,
  };
}
