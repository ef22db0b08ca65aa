-- API bearer tokens. Only the sha256 of a token is stored: tokens are 256 random bits, so a
-- fast hash cannot be brute-forced (slow password hashes exist for guessable secrets), and a
-- hash can be looked up through an index on every request. A leaked table grants nothing.
CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY,
  name          text NOT NULL,
  scope         text NOT NULL CHECK (scope IN ('pre_change', 'read', 'admin')),
  -- pre_change only: the hosts and absolute path prefixes the token may act on.
  hosts         text[] NOT NULL DEFAULT '{}',
  path_prefixes text[] NOT NULL DEFAULT '{}',
  token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL,
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
-- A name is unique among live tokens; a revoked token's name may be given to its replacement.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- What callers reported about the change a pre-change backup protects: verified or failed, by
-- whom, through which token, and why. The backup row keeps the current state; this keeps history.
CREATE TABLE change_events (
  id         uuid PRIMARY KEY,
  backup_id  uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  ticket     text NOT NULL,
  event      text NOT NULL CHECK (event IN ('verified', 'failed')),
  actor      text NOT NULL,
  reason     text,
  via        text NOT NULL,
  at         timestamptz NOT NULL
);
CREATE INDEX change_events_backup ON change_events (backup_id, at);
CREATE INDEX backups_change_ticket ON backups ((request->>'ticket')) WHERE kind = 'pre_change';
