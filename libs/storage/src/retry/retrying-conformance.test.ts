import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { FsTarget } from '../fs-target.ts';
import { describeConformance } from '../testing/conformance.ts';
import { type Fault, FaultyTarget } from '../testing/faulty-target.ts';
import { RetryingTarget } from './retrying-target.ts';

const FAST = { initialDelayMs: 1, maxDelayMs: 4, deadlineMs: 2_000 };
const transient: Fault = { type: 'error', transient: true };

// The wrapper is a StorageTarget like any other: it passes the same suite, also with faults
// injected into everything but puts of plain streams (which it cannot retry).
describeConformance('RetryingTarget over FsTarget', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-retrying-conformance-'));
  return {
    target: new RetryingTarget(new FsTarget({ name: 'plain', root: dir }), { policy: FAST }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeConformance(
  'RetryingTarget over a FaultyTarget (seeded faults on get, head, list, delete)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleet-retrying-faulty-'));
    const faults: Fault[] = [
      transient,
      { type: 'shortBody', bytes: 1000 },
      { type: 'failMidway', bytes: 70_000 },
    ];
    const faulty = new FaultyTarget(new FsTarget({ name: 'faulty', root: dir }), {
      random: { seed: 7, rate: 0.2, faults, ops: ['get', 'head', 'list', 'delete'] },
    });
    return {
      target: new RetryingTarget(faulty, { policy: FAST }),
      cleanup: async () => {
        expect(faulty.injected.length).toBeGreaterThan(10);
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
);
