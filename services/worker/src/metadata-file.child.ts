// Run by metadata-file.test.ts in a child process with a small heap: writes one host's
// backup_metadata.json and prints its peak heap use, to show the write is memory bounded.
import { createPool } from '@fleet-backup/db';
import { writeHostMetadataFile } from './metadata-file.ts';

const [databaseUrl, host, dir] = process.argv.slice(2) as [string, string, string];
const pool = createPool(databaseUrl, 2);
let peak = 0;
const sample = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().heapUsed);
}, 5);
const base = process.memoryUsage().heapUsed;
await writeHostMetadataFile(pool, host, dir);
clearInterval(sample);
peak = Math.max(peak, process.memoryUsage().heapUsed);
await pool.end();
process.stdout.write(`${JSON.stringify({ base, peak })}\n`);
