import type { Config, HostConfig } from '@fleet-backup/config';
import type { HostDetails, Registration } from '@fleet-backup/db';
import type { Runtime } from './runtime.ts';

/** The zone this process runs in (TZ, else the system's): an agent's host's zone by default. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function details(h: HostConfig): HostDetails {
  return {
    sources: h.sources.map((s) => ({ path: s.path, config: s.config })),
    labels: h.labels,
    timeZone: h.timeZone ?? null,
    dailyAt: h.dailyAt ?? null,
    dailyJitterMinutes: h.dailyJitterMinutes ?? null,
  };
}

/**
 * What an agent for `host` registers: the host's entry in its config (sources, labels, daily
 * settings) and its time zone, from the config or else the machine's own. An agent whose config
 * does not list its host registers only its zone, keeping whatever the producer's config said.
 */
export function agentRegistration(config: Config, host: string, machineZone = localTimeZone()): Registration {
  const entry = config.hosts[host];
  return {
    timeZone: entry?.timeZone ?? machineZone,
    details: entry ? details(entry) : null,
  };
}

/** The hosts a configuration lists, as the hosts table records them. */
export function configuredHosts(config: Pick<Config, 'hosts'>): Record<string, HostDetails> {
  return Object.fromEntries(Object.entries(config.hosts).map(([id, h]) => [id, details(h)]));
}

/**
 * Registers the hosts the configuration lists, and deregisters those it no longer lists (only
 * with a configuration version or file: a producer started with neither must not empty the fleet).
 */
export async function syncConfiguredHosts(rt: Runtime): Promise<string[]> {
  const prune = rt.configVersion !== null || rt.config.configFile !== null;
  const gone = await rt.hosts.syncConfigured(configuredHosts(rt.config), { prune });
  if (gone.length) rt.log.info({ hosts: gone }, 'hosts removed from the config: deregistered');
  return gone;
}
