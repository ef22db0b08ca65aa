import { createHash } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** Deterministic pseudo-random bytes, so a failure reproduces byte for byte. */
export function patternBytes(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** A stream that hands out `data` in `chunk`-sized pieces, as a socket or file would. */
export function chunked(data: Buffer, chunk = 64 << 10): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A stream's bytes. A @google-cloud/storage download puts 11 listeners on its response (the
 * client's pipelines; googleapis/google-cloud-node#9185), one over Node's limit, and each large
 * download warned: the limit of that response alone is raised, as GcsTarget does.
 */
export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  stream.on('response', (res: unknown) => {
    if (res instanceof EventEmitter) setMaxListeners(24, res);
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A fresh temp dir and its removal. */
export async function tempDir(label: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `fleet-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
