-- Completeness: a snapshot missing a source's required files ends `incomplete` (its copies are
-- still hashed, replicated and verified, so nothing it did capture is lost, but it never counts
-- as verified), and a snapshot much smaller than the host's previous one of the same paths is
-- flagged.
ALTER TABLE backups DROP CONSTRAINT backups_status_check;
ALTER TABLE backups ADD CONSTRAINT backups_status_check
  CHECK (status IN ('running', 'verified', 'unverified', 'incomplete', 'failed'));
-- Required globs (shown absolute) that matched no stored file; empty when none is missing.
ALTER TABLE backups ADD COLUMN missing jsonb NOT NULL DEFAULT '[]'::jsonb;
-- The sharp-drop flag with its figures (libs/core/src/completeness.ts SharpDrop); null when none.
ALTER TABLE backups ADD COLUMN sharp_drop jsonb;
-- The report lists only the few flagged backups.
CREATE INDEX backups_incomplete ON backups (created_at) WHERE missing <> '[]'::jsonb;
CREATE INDEX backups_sharp_drop ON backups (created_at) WHERE sharp_drop IS NOT NULL;
