-- Rot after verification: every stored copy is read again on a rolling schedule, what reads bad
-- is recorded, and healed from a good copy.

-- The sha256 of the manifest bytes written to each target copy (checked on every re-read), and
-- when that manifest was last read back. Null for copies written before this migration: verify
-- then compares the manifest with what the catalog would write, and records the hash.
ALTER TABLE backup_copies
  ADD COLUMN manifest_sha256 text CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN checked_at timestamptz;

-- Blobs are shared by every backup that holds the same bytes, so a blob is re-read once per
-- target, not once per backup. bad_at set: the last read found it corrupt or missing; replicate
-- then never trusts it, and a repair replaces it.
ALTER TABLE target_blobs
  ADD COLUMN checked_at timestamptz,
  ADD COLUMN bad_at timestamptz,
  ADD COLUMN problem text;
CREATE INDEX target_blobs_recheck ON target_blobs (target, (COALESCE(checked_at, stored_at)));
CREATE INDEX target_blobs_bad ON target_blobs (target) WHERE bad_at IS NOT NULL;

-- The local copy is re-read file by file on its host (the hash stage is the first read).
ALTER TABLE backup_files ADD COLUMN local_checked_at timestamptz;

-- Every piece of rot found, whoever found it, and whether and from where it was healed: the
-- history an operator needs to tell a failing disk or bucket from a one-off.
CREATE TABLE rot_findings (
  id          bigserial PRIMARY KEY,
  found_at    timestamptz NOT NULL,
  -- 'local' or a target name.
  copy        text NOT NULL,
  host        text NOT NULL,
  backup_id   uuid REFERENCES backups(id) ON DELETE SET NULL,
  -- A blob key or manifest key on a target; a stored path in BACKUP_ROOT/<key> for the local copy.
  object      text NOT NULL,
  problem     text NOT NULL,
  found_by    text NOT NULL CHECK (found_by IN ('verify', 'recheck', 'drill', 'cli')),
  healed_at   timestamptz,
  -- The copy the good bytes came from.
  healed_from text
);
CREATE INDEX rot_findings_found ON rot_findings (found_at DESC);
CREATE INDEX rot_findings_open ON rot_findings (copy, object) WHERE healed_at IS NULL;
