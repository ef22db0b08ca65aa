import { describe, expect, it } from 'vitest';
import { type HostFacts, hostHealth } from './host-health.ts';

const now = new Date('2026-05-10T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const base: HostFacts = {
  firstSeen: hoursAgo(24 * 40),
  lastSeen: hoursAgo(0.01),
  deregisteredAt: null,
  hasSources: true,
  lastVerifiedDaily: hoursAgo(10),
};

describe('host health', () => {
  it('is fine with a verified daily inside the window and a live agent', () => {
    expect(hostHealth(base, now, 26)).toEqual({ agent: 'up', overdue: false, reason: null });
  });

  it('is overdue once the newest verified daily is older than the window', () => {
    const h = hostHealth({ ...base, lastVerifiedDaily: hoursAgo(27) }, now, 26);
    expect(h.overdue).toBe(true);
    expect(h.reason).toMatch(/no verified daily for 27 h \(limit 26 h\)/);
    expect(hostHealth({ ...base, lastVerifiedDaily: hoursAgo(27) }, now, 48).overdue).toBe(false);
  });

  it('shows a stopped agent as down, and overdue once its last daily is too old', () => {
    const stopped = { ...base, lastSeen: hoursAgo(30), lastVerifiedDaily: hoursAgo(30) };
    const h = hostHealth(stopped, now, 26);
    expect(h).toMatchObject({ agent: 'down', overdue: true });
    expect(h.reason).toContain(`agent not seen since ${hoursAgo(30).toISOString()}`);
    expect(hostHealth({ ...base, lastSeen: hoursAgo(1) }, now, 26)).toMatchObject({
      agent: 'down',
      overdue: false,
    });
  });

  it('gives a new host the window from its registration', () => {
    const fresh = { ...base, firstSeen: hoursAgo(2), lastVerifiedDaily: null };
    expect(hostHealth(fresh, now, 26).overdue).toBe(false);
    const h = hostHealth({ ...fresh, firstSeen: hoursAgo(30), lastSeen: null }, now, 26);
    expect(h).toMatchObject({ agent: 'never', overdue: true });
    expect(h.reason).toMatch(/since registration 30 h ago.*agent never seen/);
  });

  it('flags a host without sources, and never a deregistered one', () => {
    expect(hostHealth({ ...base, hasSources: false }, now, 26)).toMatchObject({ overdue: true });
    expect(
      hostHealth({ ...base, deregisteredAt: hoursAgo(1), lastVerifiedDaily: null }, now, 1),
    ).toMatchObject({
      overdue: false,
    });
  });
});
