// `node tests/bench/capture.ts [files] [--large BYTES]`: the agent's data path on its own, no
// queue and no database: generates N files of 1–8 KiB in 200 directories (or one large file),
// then walks, captures (copy + hash + durability) and re-checks them, twice (a first backup and
// an unchanged re-run linked from it), and prints the time of each step. Run it under
// `node --cpu-prof` to profile. Figures, not a timed test.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { loadOwnerNames, type SkippedItem, walk } from '@fleet-backup/capture';
import { NO_KEYS, ruleSet, sensitiveMatcher } from '@fleet-backup/core';
import pino from 'pino';
import { checkLocalFiles } from '../../services/worker/src/capture/check-local-files.ts';
import type { PreviousCopy } from '../../services/worker/src/capture/link-unchanged.ts';
import { readSourceIndex } from '../../services/worker/src/capture/source-index.ts';
import { captureFiles } from '../../services/worker/src/capture/take-snapshot.ts';
import { writeLarge } from '../support/tree.ts';

const args = process.argv.slice(2);
const largeAt = args.indexOf('--large');
const LARGE = largeAt >= 0 ? Number(args[largeAt + 1]) : 0;
const COUNT = LARGE ? 1 : Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000);
const DIRS = 200;

const base = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'fb-bench-capture-'));
const source = path.join(base, 'src');
const backupRoot = path.join(base, 'backup');
const log = pino({ level: 'warn' });
const seconds = (ms: number) => (ms / 1000).toFixed(2);
// CPU seconds beside the wall time: on a shared machine the disk's speed varies from run to run,
// the work a step asks of the CPU does not.
const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const cpu = process.cpuUsage();
  const out = await fn();
  const used = process.cpuUsage(cpu);
  const cpuText = `(cpu user ${seconds(used.user / 1000)} s, sys ${seconds(used.system / 1000)} s)`;
  console.log(`${label.padEnd(28)} ${seconds(performance.now() - t)} s ${cpuText}`);
  return out;
};

try {
  await timed(`generate ${LARGE ? `${LARGE} B` : `${COUNT} files`}`, async () => {
    if (LARGE) return writeLarge(path.join(source, 'large.bin'), LARGE, 'bench');
    for (let d = 0; d < DIRS; d++) await mkdir(path.join(source, `d${d}`), { recursive: true });
    const seed = createHash('sha256').update('bench').digest();
    for (let i = 0; i < COUNT; i++) {
      const size = 1024 + ((seed.readUInt16BE(i % 30) * (i + 1)) % (7 * 1024));
      await writeFile(path.join(source, `d${i % DIRS}`, `f${i}.bak`), randomBytes(size));
    }
  });
  // What the generator wrote is flushed first, so the capture's syncfs flushes only the capture's bytes.
  await timed('sync generated data', () => promisify(execFile)('sync'));
  const names = await loadOwnerNames();
  const root = { path: source, config: false, rules: ruleSet(source), sensitive: sensitiveMatcher(source) };
  const request = { host: 'bench', kind: 'daily' as const, paths: [source] };
  const run = async (key: string, previous: PreviousCopy | null) => {
    const t = performance.now();
    const found = await timed(`${key}: walk`, () =>
      walk([root], { backupRoot, allowedRoots: [source] }, names),
    );
    const notes: SkippedItem[] = [];
    const dir = path.join(backupRoot, key);
    const opts = { signal: new AbortController().signal, log, keyring: NO_KEYS, names, notes, previous };
    const captured = await timed(`${key}: capture`, () => captureFiles(found.files, dir, opts));
    const read = await timed(`${key}: hash check`, () =>
      checkLocalFiles(backupRoot, { key, request }, captured.files, opts.signal),
    );
    const rss = (process.memoryUsage().rss / 1e6).toFixed(0);
    console.log(
      `${key}: total ${seconds(performance.now() - t)} s, ${captured.files.length} files (${captured.linked} linked, ${read} re-read), rss ${rss} MB`,
    );
    if (notes.length) console.log(`${key}: notes`, notes.slice(0, 3));
    return captured.files;
  };
  const first = await run('20260101', null);
  const index = await readSourceIndex(backupRoot, '20260101');
  const rows = new Map(first.map((f) => [f.path, { ...f, hashedAt: null }]));
  const previous = index && {
    backupId: 'bench',
    dir: path.join(backupRoot, '20260101'),
    index,
    rows,
    keyId: null,
    checkFirst: false,
    altered: [],
  };
  await run('20260102', previous);
} finally {
  await rm(base, { recursive: true, force: true });
}
