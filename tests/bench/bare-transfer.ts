// The baseline: one upload (put) or download (get) of a file with the SDK alone, as its docs show
// it, in its own process so its peak RSS is its own. A download is hashed (sha256) and dropped, as
// a restore or verify must at least do. Prints one JSON line: seconds, bytes, peakRssBytes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface Args {
  kind: 's3' | 'gcs';
  op?: 'put' | 'get';
  file: string;
  endpoint: string;
  bucket: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const KEY = 'bare/payload';
const { size } = await stat(args.file);
let started = 0;
let body: Readable | null = null;
if (args.kind === 's3') {
  const { GetObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({
    endpoint: args.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  started = performance.now();
  if (args.op === 'get')
    body = (await client.send(new GetObjectCommand({ Bucket: args.bucket, Key: KEY }))).Body as Readable;
  else
    await new Upload({
      client,
      params: { Bucket: args.bucket, Key: KEY, Body: createReadStream(args.file) },
      partSize: 8 * 1024 * 1024,
      queueSize: 3,
    }).done();
} else {
  const { Storage } = await import('@google-cloud/storage');
  const file = new Storage({ apiEndpoint: args.endpoint, projectId: 'bench' }).bucket(args.bucket).file(KEY);
  started = performance.now();
  if (args.op === 'get') body = file.createReadStream();
  else
    await pipeline(
      createReadStream(args.file),
      file.createWriteStream({ resumable: true, chunkSize: 8 * 1024 * 1024 }),
    );
}
if (body) {
  const hash = createHash('sha256');
  await pipeline(body, hash);
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, bytes: size, peakRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
);
