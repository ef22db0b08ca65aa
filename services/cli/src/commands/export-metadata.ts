import path from 'node:path';
import { fleetMetadataChunks, hostMetadataChunks, withReadSnapshot } from '@fleet-backup/db';
import { writeTextAtomic } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { withRuntime } from '../open.ts';

/**
 * `export-metadata`: the seed's backup_metadata.json for one host or the fleet, streamed from one
 * consistent read of Postgres (memory bounded whatever the number of files), to a file written
 * atomically or to stdout.
 */
export function registerExportMetadata(program: Command): void {
  program
    .command('export-metadata')
    .description('write backup_metadata.json (one host, or the fleet) atomically')
    .option('--host <id>', 'one host: { daily, pre_change, manual }; without it: { hosts: { … } }')
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (opts: { host?: string; out?: string }) => {
      await withRuntime(
        (rt) =>
          withReadSnapshot(rt.pool, async (rows, tx) => {
            const doc = opts.host ? hostMetadataChunks(rows, opts.host) : fleetMetadataChunks(rows, tx);
            const text = withNewline(doc);
            if (opts.out) console.log(await writeTextAtomic(path.resolve(opts.out), text));
            else for await (const chunk of text) await writeOut(chunk);
          }),
        { migrate: false },
      );
    });
}

async function* withNewline(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  yield* chunks;
  yield '\n';
}

/** Writes to stdout, waiting while its buffer is full: a pipe then holds one chunk at a time. */
function writeOut(chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    process.stdout.once('error', fail);
    const done = () => {
      process.stdout.off('error', fail);
      resolve();
    };
    if (process.stdout.write(chunk)) done();
    else process.stdout.once('drain', done);
  });
}
