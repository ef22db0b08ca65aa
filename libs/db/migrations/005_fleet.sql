-- The fleet: what each host's agent registered (sources, labels, time zone, daily settings), where
-- the host came from, and whether it is still part of the fleet. Host rows are never deleted,
-- because backups reference them; a host leaves the fleet by being deregistered.
ALTER TABLE hosts
  ADD COLUMN sources     jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- NULL: UTC (an agent always registers its own zone).
  ADD COLUMN time_zone   text,
  -- NULL: the installation's DAILY_AT / DAILY_JITTER_MINUTES.
  ADD COLUMN daily_at    text CHECK (daily_at ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
  ADD COLUMN daily_jitter_minutes integer CHECK (daily_jitter_minutes BETWEEN 0 AND 1440),
  -- Listed in the producer's config file: removing it from there deregisters the host.
  ADD COLUMN in_config   boolean NOT NULL DEFAULT false,
  ADD COLUMN deregistered_at timestamptz;

-- `hosts`: the newest daily, and the newest verified daily, of each host.
CREATE INDEX backups_host_daily ON backups (host, created_at DESC) WHERE kind = 'daily';
