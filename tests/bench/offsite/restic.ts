// restic, the peer of issue 12: a repository on the local disk, and one on s3rver (restic speaks
// S3) where it can talk to it. Each data set gets its own repository, so its size is that data's.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { S3_EMULATOR_CREDENTIALS, type S3Emulator, startS3Emulator } from '@fleet-backup/emulators';
import { track } from '../compare/cleanup.ts';
import { resticEnv, timed } from '../compare/peers.ts';
import { filesUnder, type Holdings } from './objects.ts';

const BUCKET = 'restic-bench';

export interface ResticRepo {
  label: string;
  env: NodeJS.ProcessEnv;
  /** Objects and bytes the repository holds now. */
  holdings(): Promise<Holdings>;
}

/** A new repository at `dir/repo`. */
export async function localRepo(dir: string): Promise<ResticRepo> {
  const env = resticEnv(dir);
  await timed(['restic', 'init', '-q'], env);
  return { label: 'restic (local repository)', env, holdings: () => filesUnder(path.join(dir, 'repo')) };
}

/** An s3rver of restic's own, so its objects never mix with fleet-backup's stand-in bucket. */
export async function resticS3Server(dir: string): Promise<S3Emulator & { dir: string }> {
  const s3 = await startS3Emulator({ dir, buckets: [BUCKET] });
  track(() => s3.stop());
  return Object.assign(s3, { dir });
}

/**
 * A new repository on s3rver under `name`. restic 0.14's S3 client (minio-go) signs its uploads in
 * streamed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`) over plain http, and s3rver stores that
 * aws-chunked framing as the object's bytes: `init` succeeds, and the next command cannot read the
 * repository's own config. Then this throws, naming the cause, and the caller records the finding.
 */
export async function s3Repo(
  server: S3Emulator & { dir: string },
  cacheDir: string,
  name: string,
): Promise<ResticRepo> {
  const env = {
    ...resticEnv(cacheDir, `s3:${server.endpoint}/${BUCKET}/${name}`),
    AWS_ACCESS_KEY_ID: S3_EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_EMULATOR_CREDENTIALS.secretAccessKey,
  };
  const o = ['-o', 's3.bucket-lookup=path'];
  await timed(['restic', ...o, 'init', '-q'], env);
  try {
    await timed(['restic', ...o, 'cat', 'config'], env);
  } catch (err) {
    const config = await readFile(server.objectPath(BUCKET, `${name}/config`), 'utf8').catch(() => '');
    const framing = /^[0-9a-f]+;chunk-signature=/.test(config);
    throw new Error(
      framing
        ? "restic cannot use s3rver: s3rver stores the aws-chunked framing of restic's streamed-signature uploads (minio-go, plain http) as object bytes, so restic cannot read back its own repository config"
        : `restic cannot use s3rver: ${(err as Error).message.split('\n').slice(-2).join(' ')}`,
    );
  }
  const objects = path.join(server.dir, BUCKET, name);
  return {
    label: 'restic (s3rver)',
    env,
    holdings: () => filesUnder(objects, (n) => n.endsWith('._S3rver_object')),
  };
}

/** `restic backup` of `source`: its seconds (after a sync, as every peer run). */
export function backup(repo: ResticRepo, source: string): Promise<number> {
  return timed(['restic', ...s3Options(repo), 'backup', '-q', source], repo.env);
}

/** `restic restore latest` into `dir` (restic, too, recreates the source's absolute path there). */
export function restore(repo: ResticRepo, dir: string): Promise<number> {
  return timed(['restic', ...s3Options(repo), 'restore', 'latest', '--target', dir], repo.env);
}

function s3Options(repo: ResticRepo): string[] {
  return String(repo.env.RESTIC_REPOSITORY).startsWith('s3:') ? ['-o', 's3.bucket-lookup=path'] : [];
}
