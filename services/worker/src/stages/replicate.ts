import path from 'node:path';
import type { Readable } from 'node:stream';
import { forEachLimited, LOCAL_COPY } from '@fleet-backup/core';
import { ChunkLists, CopyChecks, storedBlob } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { runStage, type StagePorts, type StageSpec, storedCopyStream } from '@fleet-backup/runtime';
import { type StorageTarget, writeManifest } from '@fleet-backup/storage';
import { type AgentEnv, assertOwnHost, backupDir } from '../agent-env.ts';

import { replaceBadBlob } from '../recheck/replace-blob.ts';
import { sendSegments, settleChain } from './listing-chain.ts';
import { buildManifest } from './manifest.ts';
import { sendChunked } from './replicate-chunks.ts';
import { Packer, Presence, readSmallStored } from './replicate-packs.ts';

/**
 * replicate: streams the backup's files to one target as content-addressed blobs, skipping blobs
 * the target already holds (known from Postgres, confirmed by a head request), then writes the
 * backup's manifest and keeps its sha256. One job per target, so a target that is down holds back
 * no other. A blob the target is known to hold bad (a re-read or verify found it corrupt or
 * missing) is never trusted: it is replaced from this local copy, and the other backups whose copy
 * it made corrupt are read again.
 */
export async function replicate(env: AgentEnv, data: JobData<'replicate'>, ctx: JobContext): Promise<void> {
  await runStage(env.rt, replicateStage(env), data, ctx);
}

/** What one replicate sent: its blobs, how many of them and their bytes went up, and the bad ones it replaced. */
interface Sent {
  target: string;
  blobs: number;
  uploaded: number;
  bytesUploaded: number;
  /** Packs written, each holding many of the uploaded blobs. */
  packs: number;
  healed: string[];
}

/** The replicate stage's parts; the target is the only storage it writes to. */
export function replicateStage(env: AgentEnv): StageSpec<JobData<'replicate'>, Sent> {
  const { backups } = env.rt;
  return {
    stage: 'replicate',
    accept: (backup) => assertOwnHost(env, backup),
    work: (input, ports) => sendCopy(env, env.rt.targets.forAgent(input.target), ports),
    async commit(tx, sent, { backup }) {
      // A late or repeated delivery must not undo verify's verdict on this copy: verify will not run
      // again, so a verified copy would stay "replicated" and the backup unverified for good.
      if ((await backups.stage(backup.id, 'verify', sent.target, tx))?.status !== 'done') {
        const { blobs, uploaded, bytesUploaded } = sent;
        await backups.setCopy(tx, backup.id, sent.target, 'replicated', { blobs, uploaded, bytesUploaded });
      }
    },
    async afterCommit(sent, _committed, { log }) {
      const { target, blobs, uploaded, bytesUploaded, packs } = sent;
      log.info({ target, blobs, uploaded, bytesUploaded, packs }, 'replicated');
      env.rt.metrics.bytesUploaded.inc({ target }, bytesUploaded);
      await reverifyHealed(env, target, sent.healed);
    },
  };
}

/**
 * Uploads the backup's blobs the target lacks (or holds bad), then its manifest. Small blobs go
 * into packs, a few dozen objects for tens of thousands of files; larger ones are cut into chunks,
 * which go into packs too (sendChunked).
 */
async function sendCopy(env: AgentEnv, target: StorageTarget, ports: StagePorts): Promise<Sent> {
  const { backups, blobs, config } = env.rt;
  const { backup, signal } = ports;
  const detail = await backups.detail(backup.id);
  const dir = backupDir(env, backup);
  // Blobs are what is stored: an encrypted file's ciphertext, under its own sha256. A fresh IV per
  // encryption means a secret never deduplicates against another copy of itself; secrets are
  // small, and the alternative (a deterministic IV) would break GCM.
  const unique = [
    ...new Map(
      detail.files.map((f) => {
        const blob = storedBlob(f);
        return [blob.sha256, { ...blob, storedPath: f.storedPath }];
      }),
    ).values(),
  ];
  const shas = unique.map((u) => u.sha256);
  const checks = new CopyChecks(env.rt.pool, env.rt.clock);
  const bad = await checks.badAmong(target.name, shas);
  const places = await blobs.places(target.name, shas);
  const presence = new Presence(target, blobs);
  const packer = new Packer(target, blobs, config.packTargetBytes, signal);
  const context = { rt: env.rt, target, packer, presence, signal };
  const sent: Sent = {
    target: target.name,
    blobs: unique.length,
    uploaded: 0,
    bytesUploaded: 0,
    packs: 0,
    healed: [],
  };
  const counted = (size: number) => {
    sent.uploaded++;
    sent.bytesUploaded += size;
  };
  let done = 0;
  await forEachLimited(unique, config.targetParallelRequests, async (file) => {
    signal.throwIfAborted();
    try {
      if (bad.has(file.sha256)) {
        const open = async () => readStored(dir, file);
        if ((await replaceBadBlob(env.rt, target, file, { name: LOCAL_COPY, open }, signal)) === 'replaced') {
          sent.healed.push(file.sha256);
          counted(file.size);
          return;
        }
      }
      const place = places.get(file.sha256);
      const own = place === undefined || (place !== null && 'chunks' in place) ? undefined : place;
      if (own !== undefined && (await presence.holds(file, own))) return;
      if (file.size <= config.packBlobMaxBytes) {
        await packer.add(file.sha256, readSmallStored(dir, file, target.name));
        counted(file.size);
        return;
      }
      const bytes = await sendChunked(context, file, place, () => readStored(dir, file));
      if (bytes > 0) counted(bytes);
    } finally {
      ports.progress(++done, unique.length);
    }
  });
  await packer.flush();
  sent.packs = packer.packs;
  const lists = await new ChunkLists(env.rt.pool).of(shas);
  const chain = await settleChain(env.rt.pool, detail, lists);
  sent.bytesUploaded += await sendSegments(target, backup.host, chain, config.targetParallelRequests, signal);
  const manifest = await writeManifest(
    target,
    buildManifest(
      detail,
      lists,
      'listing',
      chain.map((s) => s.sha256),
    ),
  );
  // Kept so every later read checks the whole manifest, byte for byte, against what was written.
  await checks.recordManifest(backup.id, target.name, manifest.sha256);
  return sent;
}

/** A stored copy's bytes, through a buffer its size (storedCopyStream). */
export function readStored(dir: string, file: { storedPath: string; size: number }): Readable {
  return storedCopyStream(path.join(dir, file.storedPath), file.size);
}

/** The other backups whose copy on the target was corrupt because of a blob just replaced: read them again. */
async function reverifyHealed(env: AgentEnv, target: string, healed: string[]): Promise<void> {
  const checks = new CopyChecks(env.rt.pool, env.rt.clock);
  const again = new Map<string, string>();
  for (const sha of healed) {
    for (const h of await checks.holding(target, sha))
      if (h.status === 'corrupt') again.set(h.backupId, h.host);
  }
  for (const [backupId, host] of again) await env.rt.queues.add('verify-copy', { backupId, host, target });
}
