import { checkRedisSettings } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();

interface LogLine {
  level: number;
  msg: string;
  maxmemoryPolicy?: string;
  source?: string;
  reason?: string;
}

/** A pino logger whose lines land in an array, parsed. */
function capturingLogger(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

const PINO_WARN = 40;

describe.skipIf(!services)('Redis production settings are checked at start', () => {
  // A private Redis: its eviction policy is changed, which the shared one must never see.
  let redis: RedisServer;
  let admin: Redis;
  const clients: Redis[] = [];

  /** A connection as an ACL user; the ready check is off because some users may not run INFO. */
  function connectAs(user: string): Redis {
    const client = new Redis(`redis://${user}:secret@127.0.0.1:${redis.port}`, {
      enableReadyCheck: false,
      maxRetriesPerRequest: 1,
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    clients.push(admin);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    // Managed Redis services refuse CONFIG (and sometimes INFO) to application users.
    await admin.call('ACL', 'SETUSER', 'no-config', 'on', '>secret', '~*', '&*', '+@all', '-config');
    await admin.call('ACL', 'SETUSER', 'blind', 'on', '>secret', '~*', '&*', '+@all', '-config', '-info');
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  it('warns loudly when maxmemory-policy is not noeviction, read through CONFIG GET', async () => {
    const { log, lines } = capturingLogger();
    expect(await checkRedisSettings(admin, log)).toEqual({ policy: 'allkeys-lru', source: 'CONFIG GET' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: PINO_WARN,
      maxmemoryPolicy: 'allkeys-lru',
      source: 'CONFIG GET',
    });
    expect(lines[0]!.msg).toMatch(/^REDIS MISCONFIGURED: maxmemory-policy is allkeys-lru, not noeviction/);
  });

  it('falls back to INFO memory where CONFIG is forbidden', async () => {
    const { log, lines } = capturingLogger();
    expect(await checkRedisSettings(connectAs('no-config'), log)).toEqual({
      policy: 'allkeys-lru',
      source: 'INFO memory',
    });
    expect(lines[0]).toMatchObject({
      level: PINO_WARN,
      maxmemoryPolicy: 'allkeys-lru',
      source: 'INFO memory',
    });
  });

  it('says it could not check when neither CONFIG nor INFO is allowed', async () => {
    const { log, lines } = capturingLogger();
    const reading = await checkRedisSettings(connectAs('blind'), log);
    expect(reading.policy).toBeNull();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(PINO_WARN);
    expect(lines[0]!.msg).toMatch(/^REDIS SETTINGS UNCHECKED/);
    expect(lines[0]!.reason).toMatch(/CONFIG GET failed: NOPERM.*INFO memory failed: NOPERM/);
  });

  it('stays quiet under noeviction', async () => {
    const other = await RedisServer.start();
    const client = new Redis(other.url, { maxRetriesPerRequest: 1 });
    try {
      const { log, lines } = capturingLogger();
      expect(await checkRedisSettings(client, log)).toEqual({ policy: 'noeviction', source: 'CONFIG GET' });
      expect(lines).toEqual([]);
    } finally {
      client.disconnect();
      await other.stop();
    }
  });

  describe('in the real role processes', () => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await createStack(
        { redisUrl: redis.url, databaseUrl: services!.databaseUrl },
        'redis-settings',
        {
          hosts: { 'settings-host': { sources: [] } },
        },
      );
    });

    afterAll(async () => {
      await stack?.stop();
    });

    it('the producer, the worker and the agent log the warning as a JSON line at start', async () => {
      const roles = await Promise.all([
        stack.start(['producer']),
        stack.start(['worker']),
        stack.start(['agent', '--host', 'settings-host']),
      ]);
      for (const role of roles) {
        await role.waitForLog('REDIS MISCONFIGURED', 10_000);
        const line = role.log.split('\n').find((l) => l.includes('REDIS MISCONFIGURED'));
        expect(JSON.parse(line!)).toMatchObject({ level: PINO_WARN, maxmemoryPolicy: 'allkeys-lru' });
      }
    });
  });
});
