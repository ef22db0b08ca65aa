-- Large files go offsite cut into content-defined chunks (libs/storage/src/chunking), each stored
-- and deduplicated as a blob (in packs), so a database that changed a little costs little more
-- than what changed. A file's blob is then the list of its chunks, a fact about its bytes alone,
-- the same on every target: which targets hold it is which hold all its chunks (target_blobs).
CREATE TABLE blob_chunks (
  blob_sha256   text NOT NULL,
  seq           integer NOT NULL,
  chunk_sha256  text NOT NULL,
  chunk_offset  bigint NOT NULL,
  size          bigint NOT NULL,
  PRIMARY KEY (blob_sha256, seq)
);
CREATE INDEX blob_chunks_chunk ON blob_chunks (chunk_sha256);
