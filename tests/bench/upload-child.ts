// One upload of a file, in its own process so its peak RSS is its own. Prints one JSON line.
// mode "ours": the replicate stage's data path (head, then put through the sha256 verifier).
// mode "bare": the SDK alone, as its docs show it (lib-storage Upload / GCS createWriteStream).
// Each mode loads only what its process would: "ours" loads the agent's modules (as a real
// agent process does), "bare" only the one SDK, so peak RSS compares like with like.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

interface Args {
  mode: 'ours' | 'bare';
  kind: 's3' | 'gcs';
  file: string;
  sha256: string;
  endpoint: string;
  bucket: string;
  key: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const { size } = await stat(args.file);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc && process.env.BENCH_GC) setInterval(gc, 100).unref();
let started = performance.now();
let rssBeforeBytes = 0;
/** Marks the moment modules are loaded and the upload begins. */
function begin(): void {
  rssBeforeBytes = process.memoryUsage().rss;
  started = performance.now();
}

if (args.mode === 'ours') {
  await import('@fleet-backup/worker');
  const { createTarget, putBlobIfAbsent } = await import('@fleet-backup/storage');
  const url =
    args.kind === 's3'
      ? `s3://${args.bucket}/ours?endpoint=${args.endpoint}&forcePathStyle=true&checksums=none${process.env.BENCH_S3_OPTS ?? ''}`
      : `gs://${args.bucket}/ours?endpoint=${args.endpoint}${process.env.BENCH_GCS_OPTS ?? ''}`;
  const options =
    args.kind === 's3' ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {};
  const target = createTarget({ name: 'bench', url, options });
  await target.head('warm-up').catch(() => {}); // loads the SDK, as the replicate stage's first head does
  begin();
  await putBlobIfAbsent(target, args.sha256, size, () =>
    createReadStream(args.file, { highWaterMark: 1 << 20 }),
  );
} else if (args.kind === 's3') {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  begin();
  const client = new S3Client({
    endpoint: args.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await new Upload({
    client,
    params: { Bucket: args.bucket, Key: `bare/${args.key}`, Body: createReadStream(args.file) },
    partSize: 8 * 1024 * 1024,
    queueSize: 4,
  }).done();
} else {
  const { Storage } = await import('@google-cloud/storage');
  begin();
  const storage = new Storage({ apiEndpoint: args.endpoint, projectId: 'bench' });
  const dest = storage.bucket(args.bucket).file(`bare/${args.key}`);
  await pipeline(
    createReadStream(args.file),
    dest.createWriteStream({ resumable: true, chunkSize: 8 * 1024 * 1024 }),
  );
}

const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, bytes: size, peakRssBytes: process.resourceUsage().maxRSS * 1024, rssBeforeBytes })}\n`,
);
