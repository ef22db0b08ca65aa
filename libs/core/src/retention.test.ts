import { describe, expect, it } from 'vitest';
import { type RetentionFacts, retentionVerdicts } from './retention.ts';

const DAY = 86_400_000;
const T0 = new Date('2026-03-01T02:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

let n = 0;
function backup(over: Partial<RetentionFacts>): RetentionFacts {
  n++;
  return {
    id: `b${n}`,
    host: 'web-01',
    kind: 'daily',
    key: `k${n}`,
    status: 'verified',
    created: T0,
    expires: at(30),
    retention: null,
    lifecycle: null,
    ticket: null,
    changeVerifiedAt: null,
    inFlight: false,
    ...over,
  };
}

function actions(facts: RetentionFacts[], now: Date, autoRetireDays: number | null = null) {
  return Object.fromEntries(
    retentionVerdicts(facts, { autoRetireDays }, now).map((v) => [v.facts.id, v.action]),
  );
}

describe('retentionVerdicts', () => {
  it('expires a daily at its expiry, to the millisecond, unless it is the newest verified one', () => {
    const old = backup({ created: at(0), expires: at(30) });
    const newer = backup({ created: at(1), expires: at(31) });
    expect(actions([old, newer], new Date(at(30).getTime() - 1))).toEqual({
      [old.id]: 'keep',
      [newer.id]: 'keep',
    });
    expect(actions([old, newer], at(30))).toEqual({ [old.id]: 'expire', [newer.id]: 'keep' });
    // Years later, the host's last good copy is still there.
    expect(actions([old, newer], at(3000))).toEqual({ [old.id]: 'expire', [newer.id]: 'keep' });
  });

  it('protects the newest *verified* daily, not the newest one', () => {
    const good = backup({ created: at(0), expires: at(30) });
    const failed = backup({ created: at(1), expires: at(31), status: 'failed' });
    const unverified = backup({ created: at(2), expires: at(32), status: 'unverified' });
    const verdicts = retentionVerdicts([good, failed, unverified], { autoRetireDays: null }, at(40));
    expect(verdicts.map((v) => v.action)).toEqual(['keep', 'expire', 'expire']);
    expect(verdicts[0]!.reason).toContain('the newest verified daily of web-01');
  });

  it('never counts an incomplete daily as the newest verified one: it expires like an unverified one', () => {
    const good = backup({ created: at(0), expires: at(30) });
    const incomplete = backup({ created: at(1), expires: at(31), status: 'incomplete' });
    expect(actions([good, incomplete], at(31))).toEqual({ [good.id]: 'keep', [incomplete.id]: 'expire' });
  });

  it('judges each host on its own', () => {
    const a = backup({ host: 'a', created: at(0) });
    const b = backup({ host: 'b', created: at(0) });
    expect(actions([a, b], at(50))).toEqual({ [a.id]: 'keep', [b.id]: 'keep' });
  });

  it('never removes a backup whose pipeline is running', () => {
    const running = backup({ kind: 'manual', retention: 'days_1', inFlight: true, status: 'running' });
    const v = retentionVerdicts([running], { autoRetireDays: null }, at(10))[0]!;
    expect(v.action).toBe('keep');
    expect(v.reason).toContain('until its pipeline stops running');
  });

  it('expires manual days_N at created + N days and keeps permanent ones', () => {
    const short = backup({ kind: 'manual', retention: 'days_5', expires: null });
    const forever = backup({ kind: 'manual', retention: 'permanent', expires: null });
    const unset = backup({ kind: 'manual', retention: null, expires: null });
    expect(actions([short, forever, unset], new Date(at(5).getTime() - 1))[short.id]).toBe('keep');
    expect(actions([short, forever, unset], at(5))).toEqual({
      [short.id]: 'expire',
      [forever.id]: 'keep',
      [unset.id]: 'keep',
    });
  });

  describe('pre_change', () => {
    const pre = (over: Partial<RetentionFacts>) =>
      backup({ kind: 'pre_change', expires: null, ticket: 'CHG-1', ...over });

    it('keeps one whose change is not verified, whatever its retention and age', () => {
      const facts = [pre({}), pre({ retention: 'days_1' }), pre({ retention: 'until_verified' })];
      const verdicts = retentionVerdicts(facts, { autoRetireDays: 1 }, at(1000));
      expect(verdicts.map((v) => v.action)).toEqual(['keep', 'keep', 'keep']);
      expect(verdicts[0]!.reason).toBe('pre_change until_verified: change CHG-1 not verified');
    });

    it('until_verified: ready for cleanup once verified, retired only by hand unless automatic retirement is on', () => {
      const p = pre({ changeVerifiedAt: at(2) });
      const off = retentionVerdicts([p], { autoRetireDays: null }, at(400))[0]!;
      expect(off).toMatchObject({ action: 'keep', readyForCleanup: true, dueAt: null });
      expect(off.reason).toContain(`fleet-backup retire ${p.key}`);
      expect(actions([p], new Date(at(5).getTime() - 1), 3)[p.id]).toBe('keep');
      expect(actions([p], at(5), 3)[p.id]).toBe('retire');
    });

    it('days_N retires N days after creation, but not before its change is verified', () => {
      const early = pre({ retention: 'days_3', changeVerifiedAt: at(1) });
      const late = pre({ retention: 'days_3', changeVerifiedAt: at(10) });
      expect(actions([early, late], at(3))).toEqual({ [early.id]: 'retire', [late.id]: 'keep' });
      expect(actions([late], at(10))[late.id]).toBe('retire');
    });

    it('keeps permanent ones, verified or not', () => {
      const p = pre({ retention: 'permanent', changeVerifiedAt: at(1) });
      expect(actions([p], at(5000), 1)[p.id]).toBe('keep');
    });
  });

  it('leaves out backups already going or gone, and does not let them protect others', () => {
    const gone = backup({ created: at(5), lifecycle: 'expiring' });
    const old = backup({ created: at(0) });
    const verdicts = retentionVerdicts([gone, old], { autoRetireDays: null }, at(50));
    expect(verdicts.map((v) => v.facts.id)).toEqual([old.id]);
    // With the newer daily going, the older one is the host's last good copy.
    expect(verdicts[0]!.action).toBe('keep');
  });
});
