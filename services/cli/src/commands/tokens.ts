import { type TokenRow, TokenStore } from '@fleet-backup/db';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { collect } from '../options.ts';
import { table } from '../table.ts';

interface CreateOptions {
  name: string;
  scope: string;
  host?: string[];
  pathPrefix?: string[];
  json?: boolean;
}

export function registerTokenCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('API bearer tokens: pre_change (limited to hosts and path prefixes), read, admin');

  tokens
    .command('create')
    .description('create a token and print it: the only time it is shown (only its sha256 is stored)')
    .requiredOption('--name <name>', 'unique among live tokens; recorded with what the token does')
    .requiredOption('--scope <scope>', 'pre_change, read or admin')
    .option('--host <id>', 'pre_change: a host it may back up (repeatable, at least one)', collect)
    .option('--path-prefix <path>', 'pre_change: an absolute path it may back up under (repeatable)', collect)
    .option('--json', 'print one JSON object, with the secret as `token`')
    .addHelpText(
      'after',
      '\nExample:\n  fleet-backup tokens create --name deployer --scope pre_change --host db-01 --path-prefix /srv/db',
    )
    .action(async (opts: CreateOptions) => {
      await withRuntime(async (rt) => {
        const { token, row } = await new TokenStore(rt.pool, rt.clock).create({
          name: opts.name,
          scope: opts.scope,
          hosts: opts.host ?? [],
          pathPrefixes: opts.pathPrefix ?? [],
        });
        if (opts.json) return printJson({ ...view(row), token });
        // The secret alone on stdout, so `TOKEN=$(fleet-backup tokens create …)` captures just it.
        process.stderr.write(
          `created token ${row.name} (${describe(row)}), id ${row.id}; store it now, it is not shown again\n`,
        );
        console.log(token);
      });
    });

  tokens
    .command('list')
    .description('tokens (never their secrets): scope, limits, last use')
    .option('--all', 'include revoked tokens')
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const rows = await new TokenStore(rt.pool, rt.clock).list({ includeRevoked: opts.all ?? false });
        if (opts.json) return printJson(rows.map(view));
        if (!rows.length)
          return console.log('no tokens: the API serves loopback clients only, unless API_TOKEN is set');
        console.log(
          table(
            ['ID', 'NAME', 'SCOPE', 'HOSTS', 'PATH PREFIXES', 'CREATED', 'LAST USED', 'REVOKED'],
            rows.map((t) => [
              t.id,
              t.name,
              t.scope,
              t.hosts.join(',') || '*',
              t.pathPrefixes.join(',') || '*',
              t.createdAt.toISOString(),
              t.lastUsedAt?.toISOString() ?? 'never',
              t.revokedAt?.toISOString() ?? '',
            ]),
          ),
        );
      });
    });

  tokens
    .command('revoke <idOrName>')
    .description('revoke a token by id or name; requests with it get 401 from then on')
    .action(async (idOrName: string) => {
      await withRuntime(async (rt) => {
        const row = await new TokenStore(rt.pool, rt.clock).revoke(idOrName);
        console.log(`revoked token ${row.name} (${row.id})`);
      });
    });
}

function view(t: TokenRow) {
  return {
    id: t.id,
    name: t.name,
    scope: t.scope,
    hosts: t.hosts,
    path_prefixes: t.pathPrefixes,
    created: t.createdAt.toISOString(),
    last_used: t.lastUsedAt?.toISOString() ?? null,
    revoked: t.revokedAt?.toISOString() ?? null,
  };
}

function describe(t: TokenRow): string {
  if (t.scope !== 'pre_change') return `scope ${t.scope}`;
  return `scope pre_change on ${t.hosts.join(', ')} under ${t.pathPrefixes.join(', ')}`;
}
