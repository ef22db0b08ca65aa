/**
 * A flaky target must not crash anything. A real stack (producer, pool worker and agent as
 * processes) backs up through the fault proxy in front of the S3 and GCS emulators, plus the fs
 * target: ~22% of requests fail in every way the proxy knows, and GCS is down for
 * FLAKY_OUTAGE_SECONDS (90 by default, the real case; fewer only to iterate locally) while half
 * the backups are in flight, then the faults stop. Every backup must end verified within 3 minutes of that, with no role exited and
 * none reporting an uncaught error. Then the same on GCS alone, one fault type at a time.
 */
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { FAULT_KINDS, type FaultKind, type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeSources, requestBackups, waitAllVerified, watchRoles } from './roles.ts';

const services = await serviceUrls();
const HOST = 'flaky-host';
const OUTAGE_SECONDS = Number(process.env.FLAKY_OUTAGE_SECONDS ?? 90);
const RECOVERY_LIMIT_MS = 180_000;
const FAULTS_FIRST_MS = 40_000;
const MINUTE = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => Math.round(ms / 1000);

/** Target configs for the stack: S3 and GCS through their proxies, with production's SDK retry settings. */
function proxiedTargets(emu: Emulators, s3: FaultProxy | null, gcs: FaultProxy): Record<string, unknown>[] {
  const [s3Config, gcsConfig] = emu.targets() as [Record<string, unknown>, Record<string, unknown>];
  const gcsTarget = { ...gcsConfig, url: `gs://${emu.bucket}/fleet?endpoint=${gcs.endpoint}` };
  if (s3 === null) return [gcsTarget];
  const s3Url = `s3://${emu.bucket}/fleet?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`;
  return [{ ...s3Config, url: s3Url }, gcsTarget];
}

describe.skipIf(!services)('flaky-targets: 22% faults, then an outage, then calm', () => {
  let emu: Emulators;
  let stack: Stack;
  let s3Proxy: FaultProxy;
  let gcsProxy: FaultProxy;

  beforeAll(async () => {
    emu = await startEmulators('flaky');
    s3Proxy = await startFaultProxy({ upstream: emu.s3.endpoint, seed: 22, rate: 0.22 });
    gcsProxy = await startFaultProxy({ upstream: emu.gcs.endpoint, seed: 23, rate: 0.22 });
    stack = await createStack(services!, 'flaky', { targets: proxiedTargets(emu, s3Proxy, gcsProxy) });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await Promise.all([s3Proxy?.stop(), gcsProxy?.stop()]);
    await emu?.stop();
  });

  it(
    `verifies 8 backups within 3 minutes after the faults stop, with no role crash`,
    async () => {
      const watch = watchRoles(stack.roles);
      const sources = await makeSources(stack, 'flaky', 8);
      // Half the backups run through faults of every kind; the other half start as GCS goes
      // down, so the outage meets replicate and verify jobs in flight: refused connections
      // first, then a black hole whose held requests are reset when it ends.
      const ids = await requestBackups(stack, HOST, sources.slice(0, 4));
      await sleep(FAULTS_FIRST_MS);
      gcsProxy.outage('refuse');
      ids.push(...(await requestBackups(stack, HOST, sources.slice(4))));
      await sleep((OUTAGE_SECONDS * 1000) / 2);
      gcsProxy.outage('blackhole');
      await sleep((OUTAGE_SECONDS * 1000) / 2);
      gcsProxy.outage(null);
      for (const proxy of [s3Proxy, gcsProxy]) proxy.configure({ rate: 0 });
      const calm = performance.now();
      await waitAllVerified(stack, ids, RECOVERY_LIMIT_MS, () => watch.crashes().join('\n'));
      const recovered = performance.now() - calm;
      const faults = s3Proxy.faultsInjected() + gcsProxy.faultsInjected();
      const crashes = watch.crashes();
      console.log(
        `flaky-targets: ${ids.length}/${ids.length} verified ${seconds(recovered)} s after faults stopped, ` +
          `${crashes.length} role crashes, ${faults} faults injected ` +
          `(s3 ${JSON.stringify(s3Proxy.counts)}, gcs ${JSON.stringify(gcsProxy.counts)}, outage ${OUTAGE_SECONDS} s)`,
      );
      expect(crashes).toEqual([]);
      expect(stack.roles.every((r) => r.alive)).toBe(true);
      expect(recovered).toBeLessThan(RECOVERY_LIMIT_MS);
      // Every kind of fault was really injected.
      for (const kind of FAULT_KINDS)
        expect(s3Proxy.counts[kind] + gcsProxy.counts[kind], kind).toBeGreaterThan(0);
      expect(gcsProxy.counts.refused).toBeGreaterThan(0);
      expect(gcsProxy.counts.blackholed).toBeGreaterThan(0);
    },
    FAULTS_FIRST_MS + OUTAGE_SECONDS * 1000 + RECOVERY_LIMIT_MS + 2 * MINUTE,
  );
});

describe.skipIf(!services)('flaky-targets on GCS alone: one fault type at a time on 30% of requests', () => {
  let emu: Emulators;
  let stack: Stack;
  let gcsProxy: FaultProxy;

  beforeAll(async () => {
    emu = await startEmulators('flakygcs');
    gcsProxy = await startFaultProxy({ upstream: emu.gcs.endpoint, seed: 30 });
    stack = await createStack(services!, 'flaky-gcs', { targets: proxiedTargets(emu, null, gcsProxy) });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await gcsProxy?.stop();
    await emu?.stop();
  });

  const kinds: FaultKind[] = ['http500', 'http503', 'dropAfterAnswer', 'delay'];
  for (const kind of kinds) {
    it(
      `${kind}: 2 backups verify, no role crashes`,
      async () => {
        const watch = watchRoles(stack.roles);
        const before = gcsProxy.counts[kind];
        gcsProxy.configure({ rate: 0.3, faults: [kind] });
        const started = performance.now();
        const ids = await requestBackups(stack, HOST, await makeSources(stack, `gcs-${kind}`, 2));
        try {
          await waitAllVerified(stack, ids, 4 * MINUTE, () => watch.crashes().join('\n'));
        } finally {
          gcsProxy.configure({ rate: 0 });
        }
        const injected = gcsProxy.counts[kind] - before;
        const crashes = watch.crashes();
        console.log(
          `flaky-targets gcs ${kind}: 2/2 verified in ${seconds(performance.now() - started)} s, ` +
            `${crashes.length} role crashes, ${injected} faults injected`,
        );
        expect(crashes).toEqual([]);
        expect(stack.roles.every((r) => r.alive)).toBe(true);
        expect(injected).toBeGreaterThan(0);
      },
      5 * MINUTE,
    );
  }
});
