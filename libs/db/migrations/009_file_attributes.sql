-- A restore brings back what was there, not just the bytes: each file's mode, owner, mtime and
-- extended attributes (POSIX ACLs among them), and the entries that hold no bytes: directories
-- (empty ones too, with their modes) and symlinks (with their targets, never followed). All
-- nullable: backups taken before this migration have none, and restore then applies defaults.
ALTER TABLE backup_files
  ADD COLUMN mode integer CHECK (mode BETWEEN 0 AND 4095),
  ADD COLUMN uid bigint,
  ADD COLUMN gid bigint,
  -- The host's names for uid and gid, when it knew them (a restore maps names back first).
  ADD COLUMN owner text,
  ADD COLUMN grp text,
  -- Nanoseconds since the epoch; numeric because the driver reads int8 as a double.
  ADD COLUMN mtime_ns numeric(20, 0),
  -- name -> base64 value; null when the file has none.
  ADD COLUMN xattrs jsonb,
  -- The raw name when it is not valid UTF-8; path then shows the bad bytes as \xHH escapes.
  ADD COLUMN path_bytes bytea;

CREATE TABLE backup_nodes (
  backup_id    uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  path         text NOT NULL,
  type         text NOT NULL CHECK (type IN ('dir', 'symlink')),
  target       text,
  path_bytes   bytea,
  target_bytes bytea,
  mode         integer NOT NULL CHECK (mode BETWEEN 0 AND 4095),
  uid          bigint NOT NULL,
  gid          bigint NOT NULL,
  owner        text,
  grp          text,
  mtime_ns     numeric(20, 0) NOT NULL,
  xattrs       jsonb,
  PRIMARY KEY (backup_id, path),
  CHECK ((type = 'symlink') = (target IS NOT NULL))
);
