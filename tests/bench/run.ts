// `npm run bench`: replicate a 1 GiB generated file to the S3 and GCS emulators and print our
// figures beside a bare SDK upload of the same file in the same run. Figures, not a timed test.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGcsEmulator, startS3Emulator } from '@fleet-backup/emulators';
import { hashStream } from '@fleet-backup/storage';
import { writeLarge } from '../support/tree.ts';

const SIZE = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const RSS_LIMIT = 200 * 1024 * 1024;
const child = fileURLToPath(new URL('./upload-child.ts', import.meta.url));

interface Figures {
  seconds: number;
  bytes: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
}

function runChild(args: Record<string, string>): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}'))
        : reject(new Error(`upload child exited ${code}`)),
    );
  });
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-backup-bench-'));
try {
  const file = path.join(dir, 'payload.bin');
  console.log(`generating ${mib(SIZE)} MiB…`);
  await writeLarge(file, SIZE, 'bench');
  const { sha256 } = await hashStream(createReadStream(file));
  const s3 = await startS3Emulator({ dir: path.join(dir, 's3'), buckets: ['bench'] });
  const gcs = await startGcsEmulator({ dir: path.join(dir, 'gcs') });
  await gcs.createBucket('bench');
  console.log(`\nreplicate ${mib(SIZE)} MiB (emulators on loopback, same machine, same run)\n`);
  console.log('target  run             MiB/s   RSS at start   peak RSS   ratio ours/bare');
  let ok = true;
  for (const [kind, endpoint] of [
    ['s3', s3.endpoint],
    ['gcs', gcs.endpoint],
  ] as const) {
    const base = { kind, file, sha256, endpoint, bucket: 'bench', key: `${kind}.bin` };
    const bare = await runChild({ ...base, mode: 'bare' });
    const ours = await runChild({ ...base, mode: 'ours' });
    const rate = (f: Figures) => f.bytes / 1024 / 1024 / f.seconds;
    const row = (label: string, f: Figures, extra = '') =>
      console.log(
        `${kind.padEnd(7)} ${label.padEnd(13)} ${rate(f).toFixed(1).padStart(6)}   ${mib(f.rssBeforeBytes).padStart(8)} MiB   ${mib(f.peakRssBytes).padStart(6)} MiB   ${extra}`,
      );
    row('bare SDK', bare);
    row('fleet-backup', ours, (rate(ours) / rate(bare)).toFixed(2));
    if (ours.peakRssBytes > RSS_LIMIT) ok = false;
  }
  console.log(`\npeak RSS of our upload process ${ok ? 'stayed under' : 'EXCEEDED'} ${mib(RSS_LIMIT)} MiB`);
  await Promise.all([s3.stop(), gcs.stop()]);
  process.exitCode = ok ? 0 : 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
