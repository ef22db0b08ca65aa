-- Sensitive files are stored encrypted (AES-256-GCM, libs/core/src/encryption). Their metadata
-- `sha256`/`size` stay the plaintext's (the seed's backup_metadata.json hash is the file's), while
-- the bytes in BACKUP_ROOT and on every target are ciphertext: these columns describe those
-- stored bytes and the key that sealed them. All three are null for a file stored as is.
ALTER TABLE backup_files
  ADD COLUMN stored_sha256 text CHECK (stored_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN stored_size bigint CHECK (stored_size >= 0),
  ADD COLUMN key_id text,
  ADD CONSTRAINT backup_files_encrypted_together
    CHECK ((stored_sha256 IS NULL) = (key_id IS NULL) AND (stored_size IS NULL) = (key_id IS NULL));

-- The blob a target holds for the file, whichever form it is stored in: what replication,
-- verification, expiry and blob garbage collection key on.
ALTER TABLE backup_files
  ADD COLUMN blob_sha256 text GENERATED ALWAYS AS (COALESCE(stored_sha256, sha256)) STORED;

-- Garbage collection now asks "does any live backup reference this blob?" (was: this sha256).
DROP INDEX backup_files_sha256;
CREATE INDEX backup_files_blob_sha256 ON backup_files (blob_sha256);
