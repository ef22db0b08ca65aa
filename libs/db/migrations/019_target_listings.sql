-- When each target last read a listing segment whole and found it good: a daily's verify reads
-- whole only the segments not read within the re-read window (its own, new ones), and confirms
-- the others are there, as it does blobs; the rolling re-read of each copy's manifest reads them all.
CREATE TABLE target_listings (
  target      text NOT NULL,
  sha256      text NOT NULL,
  checked_at  timestamptz NOT NULL,
  PRIMARY KEY (target, sha256)
);
