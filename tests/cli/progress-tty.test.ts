import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';
import { runInPty } from './pty.ts';

const services = await serviceUrls();
const HOST = 'tty-host';
// SGR sequences (colors, bold); the bar's cursor and line-wrap controls are not colors.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
const COLOR = /\x1b\[[0-9;]*m/;
// makeTree: 7 files, 8 MiB of them in one large file.
const FILES = 7;
// snapshot, hash, then replicate and verify for the one target.
const STEPS = 4;

describe.skipIf(!services)('progress for people: backup --wait and restore', () => {
  let stack: Stack;
  let source: string;
  let backupId: string;

  beforeAll(async () => {
    stack = await createStack(services!, 'cli-progress');
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 8 * 1024 * 1024 });
    await stack.start(['producer'], { FLEET_BACKUP_DEV: '1' });
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('backup --wait on a terminal draws a colored bar: steps, then files and bytes, then the result', async () => {
    const run = await runInPty(manualBackup(HOST, 'tty bar', [source], '--wait'), stack.env);
    expect(run.code, run.stdout).toBe(0);
    const screen = run.stdout;
    backupId = /^([0-9a-f-]{36}) verified\r$/m.exec(screen)?.[1] ?? '';
    expect(backupId, screen).not.toBe('');
    expect(screen).toMatch(
      new RegExp(
        `backup \\d{8}_\\d{4}_tty-bar .*█.*100% \\| ${STEPS}/${STEPS} steps \\| ${FILES} files \\| 8\\.0 MiB \\| 2/2 copies \\| verified`,
      ),
    );
    expect(screen).toMatch(/backup \S+ .* 0% \| 0\/4 steps \| 0\/2 copies \| /); // the first state: nothing known yet
    expect(screen).toContain('\x1b[32m█'); // the bar is green on a terminal
  });

  it('restore on a terminal draws bytes, files and percent; NO_COLOR keeps the bar without colors', async () => {
    const colored = await runInPty(['restore', backupId, '--to', path.join(stack.iso.dir, 'r1')], stack.env);
    expect(colored.code, colored.stdout).toBe(0);
    const bar = new RegExp(
      `restore .*█+ 100% \\| 8\\.0 MiB / 8\\.0 MiB \\| ${FILES}/${FILES} files \\| done, every sha256 matched`,
    );
    expect(stripColor(colored.stdout)).toMatch(bar);
    expect(colored.stdout).toMatch(COLOR);
    expect(colored.stdout).toMatch(
      new RegExp(
        `\\r\\nrestored ${FILES} file\\(s\\), \\d+ bytes, from local to .*every sha256 matched\\r\\n$`,
      ),
    );

    const plain = await runInPty(['restore', backupId, '--to', path.join(stack.iso.dir, 'r2')], {
      ...stack.env,
      NO_COLOR: '1',
    });
    expect(plain.code, plain.stdout).toBe(0);
    expect(plain.stdout).not.toMatch(COLOR);
    expect(plain.stdout).toMatch(bar);
  });

  it('show and list color statuses on a terminal, not with NO_COLOR', async () => {
    const colored = await runInPty(['list'], stack.env);
    expect(colored.stdout).toContain('\x1b[32mverified\x1b[39m');
    const plain = await runInPty(['show', backupId], { ...stack.env, NO_COLOR: '1' });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/STATUS/);
    expect(plain.stdout).not.toMatch(COLOR);
  });

  it('without a terminal: plain progress lines on stderr, the result alone on stdout', async () => {
    const backup = await stack.cli(manualBackup(HOST, 'plain lines', [source], '--wait'));
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^[0-9a-f-]{36} verified\n$/);
    const lines = progressLines(backup.stderr, 'backup');
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^backup \\S+: 100% ${STEPS}/${STEPS} steps, ${FILES} files, 8\\.0 MiB, 2/2 copies, verified$`,
      ),
    );

    const restore = await stack.cli(['restore', backupId, '--to', path.join(stack.iso.dir, 'r3')]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/^restored 7 file\(s\)/);
    expect(progressLines(restore.stderr, 'restore').at(-1)).toBe(
      `restore: 100% 8.0 MiB / 8.0 MiB, ${FILES}/${FILES} files, done, every sha256 matched`,
    );
    for (const out of [backup.stdout, backup.stderr, restore.stdout, restore.stderr])
      expect(out).not.toContain('\x1b');
  });

  it('--json prints nothing but the JSON, even on a terminal', async () => {
    const backup = await runInPty(manualBackup(HOST, 'json run', [source], '--wait', '--json'), stack.env);
    expect(backup.code, backup.stdout).toBe(0);
    expect(JSON.parse(backup.stdout.replaceAll('\r\n', '\n'))).toMatchObject({ status: 'verified' });
    const restore = await runInPty(
      ['restore', backupId, '--to', path.join(stack.iso.dir, 'r4'), '--json'],
      stack.env,
    );
    expect(restore.code, restore.stdout).toBe(0);
    expect(JSON.parse(restore.stdout.replaceAll('\r\n', '\n'))).toMatchObject({
      files: FILES,
      verified: true,
    });
  });
});

/** The progress lines of one title in a stderr, in order (log lines and notes left out). */
function progressLines(stderr: string, title: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith(`${title} `) || l.startsWith(`${title}:`));
}

function stripColor(s: string): string {
  return s.replace(new RegExp(COLOR.source, 'g'), '');
}
