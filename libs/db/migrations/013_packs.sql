-- Small blobs are stored offsite in packs (libs/storage/src/packs): one object holding many blobs
-- and its own index. A blob's row says where it is: in a pack at an offset, or (pack NULL, every
-- blob stored before packs) as its own object under blobs/sha256/. Its length is its size.
ALTER TABLE target_blobs
  ADD COLUMN pack text,
  ADD COLUMN pack_offset bigint,
  ADD CONSTRAINT target_blobs_pack_place CHECK ((pack IS NULL) = (pack_offset IS NULL));
CREATE INDEX target_blobs_in_pack ON target_blobs (target, pack) WHERE pack IS NOT NULL;

-- Every pack written to a target. A pack no blob row points at any more is garbage once the grace
-- period has passed since it was stored (gc).
CREATE TABLE target_packs (
  target     text NOT NULL,
  sha256     text NOT NULL,
  size       bigint NOT NULL,
  blobs      integer NOT NULL,
  stored_at  timestamptz NOT NULL,
  PRIMARY KEY (target, sha256)
);

-- When a repack moved a pack's last blobs elsewhere: the pack stays for the grace period after
-- that, for readers that looked its blobs up before the move.
ALTER TABLE target_packs ADD COLUMN released_at timestamptz;

-- Bytes read back from each target per UTC day by verify and the rolling re-read: the egress a
-- verification costs, which `report` and a metric show.
CREATE TABLE target_reads (
  target  text NOT NULL,
  day     date NOT NULL,
  bytes   bigint NOT NULL,
  PRIMARY KEY (target, day)
);
