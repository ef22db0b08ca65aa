-- The installation's data key for sealed targets, wrapped by each encryption key it was wrapped
-- with (libs/storage/src/sealed/keys.ts): never the key in the clear. The oldest data key is the
-- installation's; a rotation of ENCRYPTION_KEY adds a wrapping, and changes no stored object.
CREATE TABLE data_keys (
  id text NOT NULL,
  wrapped_by text NOT NULL,
  record jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, wrapped_by)
);

-- How each copy's target stores objects, recorded when the backup is planned: 'aes-256-gcm'
-- (sealed) or 'none'. Null for copies planned before this migration.
ALTER TABLE backup_copies ADD COLUMN encryption text;
