const HOUR = 3_600_000;

/** The agent heartbeats every minute; a few missed beats mean it is down, not slow. */
export const AGENT_DOWN_AFTER_MS = 5 * 60_000;

export interface HostFacts {
  firstSeen: Date;
  lastSeen: Date | null;
  deregisteredAt: Date | null;
  hasSources: boolean;
  /** Creation time of the host's newest verified daily. */
  lastVerifiedDaily: Date | null;
}

export interface HostHealth {
  agent: 'up' | 'down' | 'never';
  overdue: boolean;
  /** Why the host is overdue, for an operator; null when it is not. */
  reason: string | null;
}

/**
 * Overdue: no verified daily within `overdueHours` (26 by default: a day plus slack for the
 * jitter window and a slow backup). A new host gets the same grace from its registration. A host
 * whose agent is down stops producing dailies, so it turns overdue once that window passes,
 * whatever the reason it stopped.
 */
export function hostHealth(facts: HostFacts, now: Date, overdueHours: number): HostHealth {
  const agent =
    facts.lastSeen === null
      ? 'never'
      : now.getTime() - facts.lastSeen.getTime() > AGENT_DOWN_AFTER_MS
        ? 'down'
        : 'up';
  if (facts.deregisteredAt) return { agent, overdue: false, reason: null };
  if (!facts.hasSources) {
    return { agent, overdue: true, reason: 'no sources configured: nothing is backed up daily' };
  }
  const since = facts.lastVerifiedDaily ?? facts.firstSeen;
  if (now.getTime() - since.getTime() <= overdueHours * HOUR) return { agent, overdue: false, reason: null };
  const hours = Math.floor((now.getTime() - since.getTime()) / HOUR);
  const what = facts.lastVerifiedDaily
    ? `no verified daily for ${hours} h`
    : `no verified daily since registration ${hours} h ago`;
  const why =
    agent === 'up'
      ? ''
      : `; agent ${agent === 'never' ? 'never seen' : `not seen since ${facts.lastSeen?.toISOString()}`}`;
  return { agent, overdue: true, reason: `${what} (limit ${overdueHours} h)${why}` };
}
