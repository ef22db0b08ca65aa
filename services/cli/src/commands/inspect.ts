import { describeBackup } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';

export function registerInspectCommands(program: Command): void {
  program
    .command('list')
    .description('recent backups, newest first')
    .option('--host <id>', 'only this host')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { host?: string; limit: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const rows = await rt.backups.list({ host: opts.host, limit: opts.limit });
        if (opts.json) {
          printJson(
            rows.map((b) => ({
              id: b.id,
              host: b.host,
              kind: b.kind,
              key: b.key,
              status: b.status,
              lifecycle: b.lifecycle,
              created: b.createdAt.toISOString(),
            })),
          );
          return;
        }
        if (!rows.length) return console.log('no backups yet');
        console.log(
          table(
            ['ID', 'HOST', 'KIND', 'KEY', 'STATUS', 'CREATED'],
            rows.map((b) => [b.id, b.host, b.kind, b.key, statusText(b), b.createdAt.toISOString()]),
          ),
        );
      });
    });

  program
    .command('show <id>')
    .description('one backup: status per stage, per file and per copy')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const view = describeBackup(await rt.backups.detail(id));
          if (opts.json) return printJson(view);
          console.log(`${view.id}  ${view.host}/${view.key}  ${view.kind}  ${view.status}`);
          console.log(`created ${view.created}${view.expires ? `, expires ${view.expires}` : ''}`);
          if (view.lifecycle.since) {
            console.log(
              `${view.lifecycle.state} since ${view.lifecycle.since}: ${view.lifecycle.reason ?? ''}`,
            );
          }
          console.log(`${view.compliance.summary}\n`);
          console.log(
            table(
              ['STAGE', 'TARGET', 'STATUS', 'ATTEMPTS', 'ERROR'],
              view.stages.map((s) => [s.stage, s.target ?? '', s.status, String(s.attempts), s.error ?? '']),
            ),
          );
          console.log();
          console.log(
            table(
              ['COPY', 'KIND', 'OFFSITE', 'STATUS', 'VERIFIED'],
              view.copies.map((c) => [
                c.target,
                c.kind,
                c.offsite ? 'yes' : 'no',
                c.status,
                c.verified ?? '',
              ]),
            ),
          );
          console.log();
          console.log(
            table(
              ['FILE', 'CLASS', 'SIZE', 'SHA256'],
              view.files.map((f) => [f.path, f.class, String(f.size), f.sha256.slice(0, 16)]),
            ),
          );
          // The list also carries notes on files that were stored, just not the usual way.
          for (const s of view.skipped) {
            console.log(`${s.reason.startsWith('copied as') ? 'note' : 'skipped'} ${s.path}: ${s.reason}`);
          }
        },
        { migrate: false },
      );
    });
}

/** The status, with the lifecycle when the backup is going or gone (e.g. `verified, expired`). */
function statusText(b: { status: string; lifecycle: string | null }): string {
  return b.lifecycle && b.lifecycle !== 'verified' ? `${b.status}, ${b.lifecycle}` : b.status;
}

/** A plain aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
