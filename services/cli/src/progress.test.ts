import { describe, expect, it } from 'vitest';
import { formatBar, formatBytes, formatLine, type ProgressState, startProgress } from './progress.ts';
import { displayWidth, stripAnsi } from './style.ts';

const restoring: ProgressState = {
  unit: 'bytes',
  done: 9 * 1024 * 1024,
  total: 20 * 1024 * 1024,
  files: { done: 3, total: 7 },
  stage: 'srv/app/etc/app.yaml',
};

/** A stream that records what is written; a terminal or not. */
function sink(isTTY: boolean) {
  const out: string[] = [];
  const stream = { isTTY, write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out.join('') };
}

describe('progress formatting', () => {
  it('formats bytes the way people read them', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(20 * 1024 * 1024)).toBe('20.0 MiB');
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.0 TiB');
  });

  it('draws a bar with percent, bytes, files, rate and what is being done', () => {
    const line = formatBar('restore', restoring, { color: false, elapsedMs: 2000 });
    expect(line).toBe(
      'restore ██████████░░░░░░░░░░░░░░  45% | 9.0 MiB / 20.0 MiB | 3/7 files | 4.5 MiB/s | srv/app/etc/app.yaml',
    );
  });

  it('colors the bar only when asked, and red when the work failed', () => {
    const plain = formatBar('restore', restoring, { color: false });
    const colored = formatBar('restore', restoring, { color: true });
    expect(plain).not.toContain('\x1b[');
    expect(colored).toContain('\x1b[32m█');
    expect(stripAnsi(colored)).toBe(plain);
    expect(formatBar('restore', { ...restoring, failed: true }, { color: true })).toContain('\x1b[31m█');
  });

  it('fits the terminal by shortening the path from its start', () => {
    const long = { ...restoring, stage: `srv/${'deep/'.repeat(30)}leaf.json` };
    const line = formatBar('restore', long, { color: false, width: 100 });
    expect(displayWidth(line)).toBeLessThanOrEqual(100);
    expect(line).toMatch(/\| …[a-z/]*leaf\.json$/);
  });

  it('fits the terminal, color codes counted on the last draw, shrinking the bar before the stage goes', () => {
    const ended: ProgressState = {
      unit: 'steps',
      done: 4,
      total: 4,
      files: { done: 7, total: 7 },
      size: 8 * 1024 * 1024,
      copies: { done: 2, total: 2 },
      stage: 'verified',
    };
    const last = { color: true, width: 120, countEscapes: true };
    const wide = formatBar('backup 20261126_1000_tty-bar', ended, last);
    // cli-progress cuts its last line at the width in UTF-16 units, escape codes included.
    expect(wide.length).toBeLessThanOrEqual(120);
    expect(stripAnsi(wide)).toMatch(/ 100% \| 4\/4 steps \| 7 files \| 8\.0 MiB \| 2\/2 copies \| verified$/);
    const narrow = stripAnsi(formatBar('backup k', ended, { color: true, width: 80 }));
    expect(displayWidth(narrow)).toBeLessThanOrEqual(80);
    expect(narrow).toMatch(/^backup k █{8,23} 100% .*verified$/);
  });

  it('shows steps and, only once known, files and bytes of a backup', () => {
    const before: ProgressState = { unit: 'steps', done: 0, total: 6, stage: 'snapshot running' };
    expect(formatBar('backup k', before, { color: false })).toBe(
      'backup k ░░░░░░░░░░░░░░░░░░░░░░░░   0% | 0/6 steps | snapshot running',
    );
    const after: ProgressState = {
      ...before,
      done: 2,
      files: { done: 7, total: 7 },
      size: 1536,
      stage: 'replicate',
    };
    expect(formatLine('backup k', after)).toBe('backup k: 33% 2/6 steps, 7 files, 1.5 KiB, replicate');
  });

  it('counts files when the work has no bytes (only empty files)', () => {
    const empty: ProgressState = {
      unit: 'bytes',
      done: 0,
      total: 0,
      files: { done: 1, total: 2 },
      stage: 'a',
    };
    expect(formatLine('restore', empty)).toBe('restore: 50% 0 B / 0 B, 1/2 files, a');
  });
});

describe('progress output', () => {
  it('without a terminal: plain lines on stage changes, at most one per interval otherwise, and the last', () => {
    const { stream, text } = sink(false);
    const p = startProgress('restore', { stream, lineEveryMs: 60_000 });
    p.update({ ...restoring, done: 0, stage: 'a' });
    p.update({ ...restoring, done: 1024, stage: 'a' }); // same stage, within the interval: quiet
    p.update({ ...restoring, done: 2048, stage: 'b' });
    p.note('fleet-backup: b: copy s3 failed; trying the next copy');
    p.finish({ ...restoring, done: restoring.total, files: { done: 7, total: 7 }, stage: 'done' });
    p.finish();
    expect(text().split('\n')).toEqual([
      'restore: 0% 0 B / 20.0 MiB, 3/7 files, a',
      'restore: 0% 2.0 KiB / 20.0 MiB, 3/7 files, b',
      'fleet-backup: b: copy s3 failed; trying the next copy',
      'restore: 100% 20.0 MiB / 20.0 MiB, 7/7 files, done',
      '',
    ]);
    expect(text()).not.toContain('\x1b');
  });

  it('with --json: nothing but notes, which are warnings', () => {
    const { stream, text } = sink(true);
    const p = startProgress('restore', { stream, json: true });
    p.update(restoring);
    p.note('a warning');
    p.finish(restoring);
    expect(text()).toBe('a warning\n');
  });
});

describe('drill progress', () => {
  it('starts once a copy is chosen and counts files restored, with the backup size', async () => {
    const { drillProgress } = await import('./commands/drill-progress.ts');
    const { stream, text } = sink(false);
    const onProgress = drillProgress({ stream, lineEveryMs: 60_000 });
    onProgress({ step: 'chosen', backupKey: '20260301', copy: 'gcs', files: 3, bytes: 3072 });
    onProgress({ step: 'restoring', file: 'a', index: 1, files: 3 });
    onProgress({ step: 'restoring', file: 'b', index: 2, files: 3 });
    onProgress({ step: 'restoring', file: 'c', index: 3, files: 3 });
    onProgress({ step: 'checking', databases: 1 });
    onProgress({ step: 'finished', ok: true, reason: null });
    expect(text().split('\n')).toEqual([
      'drill 20260301 from gcs: 0% 0/3 files, 3.0 KiB, starting',
      'drill 20260301 from gcs: 0% 0/3 files, 3.0 KiB, a',
      'drill 20260301 from gcs: 33% 1/3 files, 3.0 KiB, b',
      'drill 20260301 from gcs: 66% 2/3 files, 3.0 KiB, c',
      'drill 20260301 from gcs: 100% 3/3 files, 3.0 KiB, every sha256 matched; checking 1 SQLite database(s)',
      'drill 20260301 from gcs: 100% 3/3 files, 3.0 KiB, passed',
      '',
    ]);
  });
});
