-- A backup's files and nodes go offsite in listing segments (libs/storage/src/listing.ts): a full
-- one, then each later backup's changes, so a daily stores what changed instead of its whole
-- listing again. The segments' bytes are kept here until no backup needs them: a replicate to a
-- target that lacks one, and a repair of one that rots, upload them from here.
CREATE TABLE listing_segments (
  sha256  text PRIMARY KEY,
  bytes   bytea NOT NULL,
  -- A full listing (the first of a chain), or one backup's changes.
  full_listing boolean NOT NULL
);
-- The chain of each backup, in order: decided once, at its first replicate, for every target.
-- Dropped when the backup ends (expired, retired) or is forgotten.
CREATE TABLE backup_listings (
  backup_id  uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  seq        integer NOT NULL,
  sha256     text NOT NULL REFERENCES listing_segments(sha256),
  PRIMARY KEY (backup_id, seq)
);
CREATE INDEX backup_listings_sha256 ON backup_listings (sha256);
