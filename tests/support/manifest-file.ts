import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { manifestText } from '@fleet-backup/storage';

/** The JSON text of a manifest stored on an fs target (gzipped, or plain when written before). */
export async function readManifestText(file: string): Promise<string> {
  return manifestText(await readFile(file), { target: 'fs', key: file }).toString('utf8');
}

/** Stores `text` as the manifest at `file`, compressed as manifests are. */
export async function writeManifestText(file: string, text: string): Promise<void> {
  await writeFile(file, gzipSync(Buffer.from(text), { level: 6 }));
}
