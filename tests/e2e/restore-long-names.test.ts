import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'long-names-host';

/** A name of exactly `length` bytes made of `ch` (1 to 4 bytes in UTF-8), padded with ASCII. */
function nameOf(ch: string, length: number, ext = ''): string {
  const room = length - Buffer.byteLength(ext);
  const base = ch.repeat(Math.floor(room / Buffer.byteLength(ch)));
  return `${base}${'x'.repeat(room - Buffer.byteLength(base))}${ext}`;
}

const LENGTHS = Array.from({ length: 16 }, (_, i) => 240 + i);
const CHARS = { ascii: 'a', '2-byte': 'é', '3-byte': '語', '4-byte': '😀' };

/**
 * Names of 240 to 255 bytes: with the class suffix they do not fit NAME_MAX, so the backup stores
 * them under short stand-ins (recorded in the catalog and the manifest) and a restore brings them
 * back under their real names, byte for byte, from the local copy and from the fs target. Real
 * roles: producer, pool worker and agent.
 */
describe.skipIf(!services)('names of 240 to 255 bytes', () => {
  let stack: Stack;
  let src: string;
  const files: string[] = [];

  beforeAll(async () => {
    stack = await createStack(services!, 'long-names');
    src = path.join(stack.iso.dir, 'src');
    await mkdir(src, { recursive: true });
    for (const ch of Object.values(CHARS)) {
      for (const length of LENGTHS) files.push(nameOf(ch, length));
      // Configuration files take the longer `.config` suffix.
      files.push(nameOf(ch, 250, '.yaml'));
    }
    const deepDir = nameOf('d', 255);
    await mkdir(path.join(src, deepDir), { recursive: true });
    for (const [i, name] of files.entries()) await writeFile(path.join(src, name), `file ${i}: ${name}\n`);
    await writeFile(path.join(src, deepDir, nameOf('ü', 255)), 'in a directory of 255 bytes\n');
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('backs them up, verifies them, and restores every one under its real name from local and the fs target', async () => {
    const run = await stack.cli(
      manualBackup(HOST, 'long-names', [src], '--json', '--wait', '--timeout', '240'),
    );
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).id as string;
    const shown = JSON.parse((await stack.cli(['show', id, '--json'])).stdout) as {
      status: string;
      files: { path: string; stored: string }[];
    };
    expect(shown.status).toBe('verified');
    expect(shown.files).toHaveLength(files.length + 1);
    for (const f of shown.files) {
      const storedName = f.stored.slice(f.stored.lastIndexOf('/') + 1);
      expect(Buffer.byteLength(storedName), f.stored).toBeLessThanOrEqual(255);
    }
    const expected = [...files, path.join(nameOf('d', 255), nameOf('ü', 255))];
    for (const from of ['local', 'second']) {
      const to = path.join(stack.iso.dir, `restore-${from}`);
      const restored = await stack.cli(['restore', id, '--to', to, '--from', from, '--json']);
      expect(restored.code, restored.stderr).toBe(0);
      expect(JSON.parse(restored.stdout).files).toBe(expected.length);
      for (const name of expected) {
        const back = await readFile(path.join(to, src.slice(1), name));
        expect(back.equals(await readFile(path.join(src, name))), `${from}: ${name}`).toBe(true);
      }
    }
  }, 300_000);
});
