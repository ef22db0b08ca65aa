import { describe, expect, it } from 'vitest';
import {
  allows,
  assertHostInScope,
  assertPathsInScope,
  OutOfScopeError,
  type Principal,
  tokenSpecSchema,
} from './scopes.ts';

const deployer: Principal = {
  name: 'deployer',
  scope: 'pre_change',
  hosts: ['db-01'],
  pathPrefixes: ['/srv', '/etc/app'],
};
const reader: Principal = { name: 'grafana', scope: 'read', hosts: [], pathPrefixes: [] };
const admin: Principal = { name: 'ops', scope: 'admin', hosts: [], pathPrefixes: [] };

describe('scopes', () => {
  it('opens a route to the scopes it lists, and to admin always', () => {
    expect(allows(reader, ['read'])).toBe(true);
    expect(allows(reader, ['pre_change'])).toBe(false);
    expect(allows(deployer, ['read'])).toBe(false);
    expect(allows(deployer, ['read', 'pre_change'])).toBe(true);
    expect(allows(admin, [])).toBe(true);
    expect(allows(reader, [])).toBe(false);
  });

  it('limits pre_change tokens to their hosts and path prefixes, on path-segment boundaries', () => {
    expect(() =>
      assertPathsInScope(deployer, 'db-01', ['/srv', '/srv/db/main.db', '/etc/app/x.conf']),
    ).not.toThrow();
    expect(() => assertPathsInScope(deployer, 'db-02', ['/srv'])).toThrow(OutOfScopeError);
    expect(() => assertPathsInScope(deployer, 'db-01', ['/srvx/secret'])).toThrow(
      /may not back up \/srvx\/secret/,
    );
    expect(() => assertPathsInScope(deployer, 'db-01', ['/etc'])).toThrow(OutOfScopeError);
    expect(() => assertHostInScope(deployer, 'web-01')).toThrow(/may not act on host web-01/);
    expect(() => assertPathsInScope(admin, 'anything', ['/'])).not.toThrow();
    expect(() => assertHostInScope(reader, 'anything')).not.toThrow();
  });

  it('validates token specs: limits are required for pre_change and refused for the others', () => {
    expect(tokenSpecSchema.safeParse({ name: 'ci', scope: 'pre_change', hosts: ['db-01'] }).success).toBe(
      false,
    );
    expect(tokenSpecSchema.safeParse({ name: 'ci', scope: 'read', hosts: ['db-01'] }).success).toBe(false);
    expect(
      tokenSpecSchema.safeParse({
        name: 'ci',
        scope: 'pre_change',
        hosts: ['db-01'],
        pathPrefixes: ['/srv/../etc'],
      }).success,
    ).toBe(false);
    expect(tokenSpecSchema.safeParse({ name: 'bad name', scope: 'read' }).success).toBe(false);
    expect(tokenSpecSchema.parse({ name: 'ci', scope: 'admin' })).toEqual({
      name: 'ci',
      scope: 'admin',
      hosts: [],
      pathPrefixes: [],
    });
  });
});
