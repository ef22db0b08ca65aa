// Run by metadata-file.test.ts in a child process with a small heap: writes one host's
// backup_metadata.json and prints its peak heap use, to show the write is memory bounded.
// Run with --expose-gc: each sample collects first, so it measures what the write holds, not
// garbage waiting for a collection (which varied by 12–19 MiB from run to run).
import { createPool } from '@fleet-backup/db';
import { writeHostMetadataFile } from './metadata-file.ts';

const [databaseUrl, host, dir] = process.argv.slice(2) as [string, string, string];
const pool = createPool(databaseUrl, 2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const live = () => {
  gc();
  return process.memoryUsage().heapUsed;
};
let peak = 0;
const sample = setInterval(() => {
  peak = Math.max(peak, live());
}, 20);
const base = live();
await writeHostMetadataFile(pool, host, dir);
clearInterval(sample);
peak = Math.max(peak, live());
await pool.end();
process.stdout.write(`${JSON.stringify({ base, peak })}\n`);
