import { z } from 'zod';
import { PermanentFailure } from './errors.ts';
import { hostIdSchema } from './ids.ts';
import { assertCleanAbsolutePath, isInside } from './paths.ts';

/**
 * What an API token may do. `admin` may do everything (and is the only scope for Bull Board
 * and for anything a route does not open up explicitly); `read` reads backups; `pre_change`
 * asks for pre-change backups, reads them and reports their changes, on its listed hosts and
 * path prefixes only.
 */
export const TOKEN_SCOPES = ['pre_change', 'read', 'admin'] as const;
export const tokenScopeSchema = z.enum(TOKEN_SCOPES);
export type TokenScope = z.infer<typeof tokenScopeSchema>;

/** Who a request acts as, once its credentials are checked. */
export interface Principal {
  /** The token's name (or `API_TOKEN`, or `loopback`), recorded with what it does; never the secret. */
  name: string;
  scope: TokenScope;
  /** pre_change only: the hosts it may touch. */
  hosts: string[];
  /** pre_change only: the paths it may back up, as absolute prefixes. */
  pathPrefixes: string[];
}

/** Authenticated but not allowed: an HTTP 403. Nothing has been changed or enqueued when it is thrown. */
export class OutOfScopeError extends PermanentFailure {}

const prefix = z.string().superRefine((p, ctx) => {
  try {
    assertCleanAbsolutePath(p, 'path prefix');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/** A token to create: its name, scope and (pre_change only, and then required) limits. */
export const tokenSpecSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'name: 1-63 letters, digits, ".", "_" or "-"'),
    scope: tokenScopeSchema,
    hosts: z.array(hostIdSchema).max(1000).default([]),
    pathPrefixes: z.array(prefix).max(1000).default([]),
  })
  .superRefine((spec, ctx) => {
    const limited = spec.hosts.length > 0 || spec.pathPrefixes.length > 0;
    if (spec.scope !== 'pre_change' && limited) {
      ctx.addIssue({
        code: 'custom',
        message: `hosts and path prefixes limit pre_change tokens only, not ${spec.scope}`,
      });
    }
    if (spec.scope === 'pre_change' && (!spec.hosts.length || !spec.pathPrefixes.length)) {
      // An unlimited pre_change token is an easy mistake with a large blast radius: make it explicit.
      ctx.addIssue({
        code: 'custom',
        message:
          'a pre_change token needs at least one --host and one --path-prefix (use --path-prefix / for any path)',
      });
    }
  });
export type TokenSpec = z.infer<typeof tokenSpecSchema>;

/** True when the principal holds one of the scopes a route opens up; admin holds them all. */
export function allows(principal: Principal, scopes: readonly TokenScope[]): boolean {
  return principal.scope === 'admin' || scopes.includes(principal.scope);
}

/** Throws OutOfScopeError unless the principal may act on this host. */
export function assertHostInScope(principal: Principal, host: string): void {
  if (principal.scope !== 'pre_change' || principal.hosts.includes(host)) return;
  throw new OutOfScopeError(`token ${principal.name} may not act on host ${host}`, { host });
}

/**
 * Throws OutOfScopeError unless the principal may back up every one of these paths on this host.
 * Returns the scope the agent must enforce by real path (a pre_change token's prefixes), if any.
 */
export function assertPathsInScope(
  principal: Principal,
  host: string,
  paths: string[],
): { token: string; pathPrefixes: string[] } | undefined {
  assertHostInScope(principal, host);
  if (principal.scope !== 'pre_change') return undefined;
  const outside = paths.filter((p) => !principal.pathPrefixes.some((root) => isInside(p, root)));
  if (outside.length) {
    throw new OutOfScopeError(
      `token ${principal.name} may not back up ${outside.join(', ')} (allowed under ${principal.pathPrefixes.join(', ')})`,
      { paths: outside },
    );
  }
  return { token: principal.name, pathPrefixes: principal.pathPrefixes };
}
