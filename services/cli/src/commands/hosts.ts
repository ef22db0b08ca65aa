import {
  describeHosts,
  type HostView,
  removeDailyScheduler,
  removeDrillScheduler,
} from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { statusCell } from '../style.ts';
import { table } from '../table.ts';

export function registerHostCommands(program: Command): void {
  const hosts = program
    .command('hosts')
    .description('every host: last seen, its daily schedule, its last daily and whether it is overdue')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const views = await describeHosts(rt);
          if (opts.json) return printJson(views);
          if (!views.length)
            return console.log('no hosts yet: start an agent with `fleet-backup agent --host ID`');
          console.log(table(HEADER, views.map(row)));
          const overdue = views.filter((v) => v.overdue);
          for (const v of overdue) console.log(`overdue ${v.host}: ${v.reason}`);
        },
        { migrate: false },
      );
    });

  hosts
    .command('remove <id>')
    .description(
      'deregister a host: its daily scheduler goes and it is no longer overdue; its backups stay. An agent starting for it registers it again',
    )
    .option('--json', 'print JSON')
    // `hosts` has --json too, and commander hands it to the parent: read both levels.
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      await withRuntime(
        async (rt) => {
          const host = await rt.hosts.deregister(id);
          const scheduler = await removeDailyScheduler(rt, id);
          // The drill scheduler goes with it (the producer's sweep would remove it within a minute).
          await removeDrillScheduler(rt, id);
          const out = {
            host: host.id,
            deregistered: host.deregisteredAt?.toISOString(),
            schedulerRemoved: scheduler,
          };
          if (opts.json) return printJson(out);
          console.log(`host ${id} deregistered${scheduler ? '; its daily scheduler is removed' : ''}`);
          if (host.inConfig) {
            console.log(
              'it is still listed in the configuration: remove it there too (fleet-backup config apply)',
            );
          }
        },
        { migrate: false },
      );
    });
}

const HEADER = ['HOST', 'AGENT', 'LAST SEEN', 'DAILY AT', 'LAST DAILY', 'STATUS', 'OVERDUE'];

function row(v: HostView): string[] {
  return [
    v.host,
    v.deregistered ? 'deregistered' : v.agent,
    v.lastSeen ?? '-',
    v.schedule ? `${v.schedule.at} ${v.schedule.timeZone}` : '-',
    v.lastDaily ? `${v.lastDaily.key} (${v.lastDaily.created})` : '-',
    v.lastDaily ? statusCell(v.lastDaily.status) : '-',
    v.overdue ? 'yes' : 'no',
  ];
}
