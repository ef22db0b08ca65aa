import { describe, expect, it } from 'vitest';
import { Targets } from './targets.ts';

describe('targets with credentials named by reference', () => {
  const targets = new Targets([
    {
      name: 's3-eu',
      url: 's3://bucket/fleet?endpoint=http://127.0.0.1:9&forcePathStyle=true',
      offsite: true,
      // Plain, so that what fails first is the credential (a sealed one would ask for a key first).
      encryption: 'none',
      options: { credentials: { accessKeyId: 'AKIA', secretAccessKey: { env: 'FBT_UNSET_S3_SECRET' } } },
    },
  ]);

  it('plan without the secret: kind and offsite need none', () => {
    expect(targets.refs()).toEqual([{ name: 's3-eu', kind: 's3', offsite: true, encryption: 'none' }]);
  });

  it('fail the operation that needs a missing one, naming the variable and where it is asked for', async () => {
    delete process.env.FBT_UNSET_S3_SECRET;
    await expect(targets.get('s3-eu').head('any')).rejects.toThrow(
      'target s3-eu: options.credentials.secretAccessKey needs the environment variable FBT_UNSET_S3_SECRET, which is not set for this process',
    );
  });
});

describe("targets with the agents' own credential", () => {
  const targets = new Targets([
    {
      name: 's3-eu',
      url: 's3://bucket/fleet?endpoint=http://127.0.0.1:9&forcePathStyle=true',
      offsite: true,
      encryption: 'none',
      options: {
        credentials: { accessKeyId: 'POOL', secretAccessKey: { env: 'FBT_UNSET_POOL_SECRET' } },
        agent: { credentials: { accessKeyId: 'AGENT', secretAccessKey: { env: 'FBT_UNSET_AGENT_SECRET' } } },
      },
    },
    { name: 'gcs-us', url: 'gs://bucket/fleet?endpoint=http://127.0.0.1:9', offsite: true, options: {} },
  ]);

  it("give agents a create-only view that reads the agent's secret and never the pool's", async () => {
    delete process.env.FBT_UNSET_AGENT_SECRET;
    const agent = targets.forAgent('s3-eu');
    expect(agent.writeOnly).toBe(true);
    expect(targets.agentsWriteOnly('s3-eu')).toBe(true);
    const bytes = Buffer.from('x');
    const sha256 = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881';
    await expect(agent.put('k', bytes, { sha256, size: 1 })).rejects.toThrow(
      'options.credentials.secretAccessKey needs the environment variable FBT_UNSET_AGENT_SECRET',
    );
  });

  it('refuse an agent every read, listing and delete, whatever the provider would say', async () => {
    const agent = targets.forAgent('s3-eu');
    for (const call of [agent.get('k'), agent.head('k'), agent.list('hosts/'), agent.delete('k')]) {
      await expect(call).rejects.toThrow("is not allowed with the agent's credential (create only)");
    }
  });

  it("keep the pool (expire, gc, verify) on the pool's credential, without the agent block", async () => {
    delete process.env.FBT_UNSET_POOL_SECRET;
    expect(targets.get('s3-eu').writeOnly).toBeUndefined();
    await expect(targets.get('s3-eu').head('k')).rejects.toThrow('FBT_UNSET_POOL_SECRET');
  });

  it('give agents the pool target where no agent credential is configured', () => {
    expect(targets.forAgent('gcs-us')).toBe(targets.get('gcs-us'));
    expect(targets.agentsWriteOnly('gcs-us')).toBe(false);
  });
});

describe('sealed targets', () => {
  const targets = new Targets([
    { name: 's3', url: 's3://bucket/fleet?endpoint=http://127.0.0.1:9', options: {} },
    { name: 'plain', url: 's3://bucket/plain?endpoint=http://127.0.0.1:9', encryption: 'none', options: {} },
    { name: 'disk', url: 'file:///mnt/second', options: {} },
  ]);

  it('seal an offsite target unless it says encryption: none; another target only when it says so', () => {
    expect(['s3', 'plain', 'disk'].map((t) => targets.sealed(t))).toEqual([true, false, false]);
    expect(targets.refs().map((r) => r.encryption)).toEqual(['aes-256-gcm', 'none', 'none']);
  });

  it('fail a sealed put in a process without a key, saying what to set', async () => {
    const bytes = Buffer.from('x');
    const sha256 = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881';
    await expect(targets.get('s3').put('k', bytes, { sha256, size: 1 })).rejects.toThrow(
      'a sealed target needs an encryption key: set ENCRYPTION_KEY',
    );
  });
});
