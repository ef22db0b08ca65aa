import { ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken, TokenStore } from './token-store.ts';

const services = await serviceUrls();

describe.skipIf(!services)('TokenStore', () => {
  let env: Isolated;
  let tokens: TokenStore;
  const clock = new ManualClock('2026-05-01T10:00:00Z');

  beforeAll(async () => {
    env = await isolate(services!, 'tokens');
    tokens = new TokenStore(env.pool, clock);
  });
  afterAll(() => env?.cleanup());

  it('stores only the sha256 of a high-entropy token, and finds the token by it', async () => {
    expect(await tokens.anyLive()).toBe(false);
    const { token, row } = await tokens.create({
      name: 'deployer',
      scope: 'pre_change',
      hosts: ['db-01'],
      pathPrefixes: ['/srv'],
    });
    expect(token).toMatch(/^fbk_[A-Za-z0-9_-]{43}$/);
    expect(row).toMatchObject({
      name: 'deployer',
      scope: 'pre_change',
      hosts: ['db-01'],
      pathPrefixes: ['/srv'],
    });
    const dump = JSON.stringify((await env.pool.query('SELECT * FROM api_tokens')).rows);
    expect(dump).not.toContain(token);
    expect(dump).toContain(hashToken(token));
    expect((await tokens.authenticate(token))?.id).toBe(row.id);
    expect(await tokens.authenticate(`${token}x`)).toBeNull();
    expect(await tokens.authenticate('not-even-our-format')).toBeNull();
    expect(await tokens.anyLive()).toBe(true);
  });

  it('records last use at most once a minute', async () => {
    const { token, row } = await tokens.create({ name: 'poller', scope: 'read' });
    expect(row.lastUsedAt).toBeNull();
    expect((await tokens.authenticate(token))?.lastUsedAt?.toISOString()).toBe('2026-05-01T10:00:00.000Z');
    clock.advance(30_000);
    await tokens.authenticate(token);
    const listed = (await tokens.list()).find((t) => t.id === row.id);
    expect(listed?.lastUsedAt?.toISOString()).toBe('2026-05-01T10:00:00.000Z');
  });

  it('refuses bad specs and a second live token with the same name', async () => {
    await expect(tokens.create({ name: 'x', scope: 'pre_change', hosts: ['db-01'] })).rejects.toThrow(
      /needs at least one --host and one --path-prefix/,
    );
    await expect(tokens.create({ name: 'x', scope: 'superuser' })).rejects.toThrow(/invalid token: scope/);
    await expect(tokens.create({ name: 'poller', scope: 'admin' })).rejects.toThrow(/already named poller/);
  });

  it('revokes by name or id: the token stops working and its name is free again', async () => {
    const { token, row } = await tokens.create({ name: 'temp', scope: 'admin' });
    clock.advance(1000);
    const revoked = await tokens.revoke('temp');
    expect(revoked.revokedAt?.toISOString()).toBe(clock.now().toISOString());
    expect(await tokens.authenticate(token)).toBeNull();
    expect((await tokens.list()).map((t) => t.name)).not.toContain('temp');
    expect((await tokens.list({ includeRevoked: true })).map((t) => t.id)).toContain(row.id);
    await expect(tokens.revoke('temp')).rejects.toThrow(/no live token/);
    expect((await tokens.revoke(row.id)).revokedAt).toEqual(revoked.revokedAt);
    const again = await tokens.create({ name: 'temp', scope: 'read' });
    expect(again.row.id).not.toBe(row.id);
  });
});
