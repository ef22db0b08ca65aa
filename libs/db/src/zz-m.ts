import { createPool, ensureDatabase, migrate } from '@fleet-backup/db';

const url = 'postgres://root@127.0.0.1:5432/fbt_catalog_scratch';
await ensureDatabase(url);
const pool = createPool(url);
console.log(await migrate(pool, { upTo: process.argv[2] }));
await pool.end();
