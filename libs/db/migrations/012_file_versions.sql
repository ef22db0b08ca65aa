-- A catalog that grows with change. A backup's file list used to be one backup_files row per
-- file per backup (about 1,240 bytes each), so an unchanged re-run cost as much as the first
-- backup. Now backups of the same host, kind and requested paths form a *series*; each backup
-- gets a sequence number in its series when its snapshot is saved (in commit order), and a file
-- version is valid over a range of sequence numbers [first_seq, last_seq] (last_seq NULL: still
-- current). An unchanged re-run writes nothing per file: only a new or changed file inserts a
-- version, and only a changed or removed one closes its range.
--
-- `backup_files` stays as a read view with the columns it had, so readers keep working.
-- Per-backup facts moved to the backup (hashed_at). The local re-check time stays on the version:
-- an unchanged file's stored copy is hardlinked from the previous backup, so one inode holds it.
--
-- The series is only a grouping for sharing: a backup's list is exact whichever series it is in.

CREATE TABLE backup_series (
  id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  host         text NOT NULL REFERENCES hosts(id),
  kind         text NOT NULL,
  -- sha256 of the requested paths, sorted and joined by newlines (catalog_paths_digest).
  paths_digest bytea NOT NULL,
  -- The highest sequence number handed out; the row is locked while a snapshot is saved.
  last_seq     integer NOT NULL DEFAULT 0,
  UNIQUE (host, kind, paths_digest)
);

CREATE FUNCTION catalog_paths_digest(request jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(convert_to(COALESCE(string_agg(p, E'\n' ORDER BY p COLLATE "C"), ''), 'UTF8'))
  FROM jsonb_array_elements_text(COALESCE(request->'paths', '[]'::jsonb)) AS p
$$;

-- Bumped (from a sequence, so without locking anything shared) on every change the seed's
-- backup_metadata.json can see: the writer of that file compares a digest of these per host.
CREATE SEQUENCE backup_seed_changes;

ALTER TABLE backups
  ADD COLUMN series_id integer REFERENCES backup_series(id),
  -- NULL until the backup's snapshot is saved: it then lists nothing.
  ADD COLUMN seq integer,
  -- When the hash stage vouched for the local copy (was per file row).
  ADD COLUMN hashed_at timestamptz,
  ADD COLUMN seed_seq bigint NOT NULL DEFAULT nextval('backup_seed_changes'),
  ADD CONSTRAINT backups_seq_in_series CHECK (seq IS NULL OR series_id IS NOT NULL);
CREATE UNIQUE INDEX backups_series_seq ON backups (series_id, seq) WHERE seq IS NOT NULL;

-- Columns ordered for alignment (8-byte, 4-byte, 1-byte, then variable), so a typical version
-- costs about 170 bytes of heap. The sha256s are bytea (33 bytes, not 65); stored_path is NULL when
-- it is the path plus the class suffix; class is one letter.
CREATE TABLE file_versions (
  size             bigint NOT NULL,
  uid              bigint,
  gid              bigint,
  -- Nanoseconds since the epoch (fits bigint until 2262); the view shows it as numeric(20, 0).
  mtime_ns         bigint,
  local_checked_at timestamptz,
  stored_size      bigint CHECK (stored_size >= 0),
  series_id        integer NOT NULL REFERENCES backup_series(id),
  first_seq        integer NOT NULL,
  last_seq         integer,
  mode             integer CHECK (mode BETWEEN 0 AND 4095),
  -- d: database, c: config, g: general.
  class            "char" NOT NULL CHECK (class IN ('d', 'c', 'g')),
  has_wal          boolean,
  sha256           bytea NOT NULL CHECK (octet_length(sha256) = 32),
  path             text COLLATE "C" NOT NULL,
  owner            text,
  grp              text,
  stored_path      text,
  stored_sha256    bytea CHECK (octet_length(stored_sha256) = 32),
  key_id           text,
  xattrs           jsonb,
  path_bytes       bytea,
  CHECK (last_seq IS NULL OR last_seq >= first_seq),
  CONSTRAINT file_versions_encrypted_together
    CHECK ((stored_sha256 IS NULL) = (key_id IS NULL) AND (stored_size IS NULL) = (key_id IS NULL))
);
-- A backup's list in path order, and a snapshot compared with its series' current versions.
CREATE INDEX file_versions_series_path ON file_versions (series_id, path);
-- "Who holds this blob?" (gc, expiry, re-checks) through the view's blob_sha256 column. A hash
-- index keeps 4 bytes of hash per version instead of a 65-byte key.
CREATE INDEX file_versions_blob ON file_versions USING hash (encode(COALESCE(stored_sha256, sha256), 'hex'));

-- Directories and symlinks, versioned the same way (they were one backup_nodes row per backup).
CREATE TABLE node_versions (
  uid          bigint NOT NULL,
  gid          bigint NOT NULL,
  mtime_ns     bigint NOT NULL,
  series_id    integer NOT NULL REFERENCES backup_series(id),
  first_seq    integer NOT NULL,
  last_seq     integer,
  mode         integer NOT NULL CHECK (mode BETWEEN 0 AND 4095),
  -- d: dir, l: symlink.
  type         "char" NOT NULL CHECK (type IN ('d', 'l')),
  path         text COLLATE "C" NOT NULL,
  target       text,
  owner        text,
  grp          text,
  xattrs       jsonb,
  path_bytes   bytea,
  target_bytes bytea,
  CHECK (last_seq IS NULL OR last_seq >= first_seq),
  CHECK ((type = 'l') = (target IS NOT NULL))
);
CREATE INDEX node_versions_series_path ON node_versions (series_id, path);

CREATE FUNCTION catalog_class(c "char") RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE c WHEN 'd' THEN 'database' WHEN 'c' THEN 'config' ELSE 'general' END
$$;
CREATE FUNCTION catalog_class_code(c text) RETURNS "char" LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE c WHEN 'database' THEN 'd' WHEN 'config' THEN 'c' ELSE 'g' END::"char"
$$;
-- The stored path a file gets when nothing special applies (libs/core storedPath): the path plus
-- the class suffix, a database keeping its own name. Only stored paths that differ are kept.
CREATE FUNCTION catalog_default_stored_path(path text, c "char") RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT path || CASE c WHEN 'g' THEN '.bak' WHEN 'c' THEN '.config' ELSE '' END
$$;

-- Versions that no backup of the series covers any more, among those that covered `seq`.
CREATE FUNCTION catalog_sweep(p_series integer, p_seq integer) RETURNS void LANGUAGE sql AS $$
  DELETE FROM file_versions v
  WHERE v.series_id = p_series AND v.first_seq <= p_seq AND (v.last_seq IS NULL OR v.last_seq >= p_seq)
    AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.series_id = p_series
                      AND b.seq BETWEEN v.first_seq AND COALESCE(v.last_seq, 2147483647));
  DELETE FROM node_versions v
  WHERE v.series_id = p_series AND v.first_seq <= p_seq AND (v.last_seq IS NULL OR v.last_seq >= p_seq)
    AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.series_id = p_series
                      AND b.seq BETWEEN v.first_seq AND COALESCE(v.last_seq, 2147483647));
$$;

-- The backup's series (created when new), locked, and a fresh sequence number for the backup,
-- after every other in the series: a first save, a retry and a late save alike. Returns the
-- series, the new number and the one it had (NULL when none); the caller closes and inserts
-- versions, then sweeps the old number.
CREATE FUNCTION catalog_next_seq(backup uuid, OUT o_series integer, OUT o_seq integer, OUT o_old integer)
LANGUAGE plpgsql AS $$
DECLARE
  b backups;
BEGIN
  SELECT * INTO STRICT b FROM backups WHERE id = backup;
  o_series := b.series_id;
  IF o_series IS NULL THEN
    INSERT INTO backup_series (host, kind, paths_digest)
    VALUES (b.host, b.kind, catalog_paths_digest(b.request)) ON CONFLICT DO NOTHING;
    SELECT s.id INTO STRICT o_series FROM backup_series s
    WHERE s.host = b.host AND s.kind = b.kind AND s.paths_digest = catalog_paths_digest(b.request);
  END IF;
  UPDATE backup_series s SET last_seq = s.last_seq + 1 WHERE s.id = o_series RETURNING s.last_seq INTO o_seq;
  o_old := b.seq;
  UPDATE backups SET series_id = o_series, seq = o_seq, hashed_at = NULL WHERE id = backup;
END $$;

-- A deleted backup (forget) leaves the others' lists exact and takes the versions only it held.
CREATE FUNCTION catalog_backup_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Serialised with snapshots being saved in the series (they lock the same row).
  PERFORM 1 FROM backup_series WHERE id = OLD.series_id FOR UPDATE;
  PERFORM catalog_sweep(OLD.series_id, OLD.seq);
  RETURN NULL;
END $$;
CREATE TRIGGER backups_catalog_sweep AFTER DELETE ON backups
  FOR EACH ROW WHEN (OLD.seq IS NOT NULL) EXECUTE FUNCTION catalog_backup_deleted();

-- Anything backup_metadata.json shows changed: its entry, whether it is kept, its key, its files
-- (a saved snapshot always takes a new seq).
CREATE FUNCTION catalog_seed_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.entry IS DISTINCT FROM OLD.entry OR NEW.lifecycle IS DISTINCT FROM OLD.lifecycle
     OR NEW.key IS DISTINCT FROM OLD.key OR NEW.seq IS DISTINCT FROM OLD.seq THEN
    NEW.seed_seq := nextval('backup_seed_changes');
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER backups_seed_changed BEFORE UPDATE ON backups
  FOR EACH ROW EXECUTE FUNCTION catalog_seed_changed();

-- Existing catalogs, in place: every backup whose snapshot was saved gets its series and number
-- (in creation order), and each run of identical rows of a path over consecutive numbers becomes
-- one version.
INSERT INTO backup_series (host, kind, paths_digest)
SELECT DISTINCT host, kind, catalog_paths_digest(request) FROM backups;

WITH saved AS (
  SELECT b.id, s.id AS series_id,
         row_number() OVER (PARTITION BY s.id ORDER BY b.created_at, b.key, b.id)::int AS seq
  FROM backups b
  JOIN backup_series s ON s.host = b.host AND s.kind = b.kind AND s.paths_digest = catalog_paths_digest(b.request)
  WHERE EXISTS (SELECT 1 FROM backup_files f WHERE f.backup_id = b.id)
     OR EXISTS (SELECT 1 FROM backup_nodes n WHERE n.backup_id = b.id)
     OR EXISTS (SELECT 1 FROM backup_stages st WHERE st.backup_id = b.id AND st.stage = 'snapshot' AND st.status = 'done')
)
UPDATE backups b SET series_id = saved.series_id, seq = saved.seq FROM saved WHERE saved.id = b.id;

UPDATE backup_series s SET last_seq = COALESCE((SELECT max(seq) FROM backups b WHERE b.series_id = s.id), 0);

-- A backup's files were hashed together (markHashed); one not hashed keeps it NULL.
UPDATE backups b SET hashed_at = h.at
FROM (SELECT backup_id, CASE WHEN bool_and(hashed_at IS NOT NULL) THEN max(hashed_at) END AS at
      FROM backup_files GROUP BY backup_id) h
WHERE h.backup_id = b.id;

WITH rows AS (
  SELECT b.series_id, b.seq, f.*,
         lag(b.seq) OVER w AS prev_seq,
         lag(ROW(f.stored_path, f.class, f.size, f.sha256, f.has_wal, f.stored_sha256, f.stored_size, f.key_id,
                 f.mode, f.uid, f.gid, f.owner, f.grp, f.mtime_ns, f.xattrs, f.path_bytes)) OVER w
           IS DISTINCT FROM
           ROW(f.stored_path, f.class, f.size, f.sha256, f.has_wal, f.stored_sha256, f.stored_size, f.key_id,
               f.mode, f.uid, f.gid, f.owner, f.grp, f.mtime_ns, f.xattrs, f.path_bytes) AS changed
  FROM backup_files f JOIN backups b ON b.id = f.backup_id
  WHERE b.seq IS NOT NULL
  WINDOW w AS (PARTITION BY b.series_id, f.path ORDER BY b.seq)
), runs AS (
  SELECT *, sum(CASE WHEN prev_seq IS NULL OR prev_seq <> seq - 1 OR changed THEN 1 ELSE 0 END)
              OVER (PARTITION BY series_id, path ORDER BY seq) AS run
  FROM rows
), spans AS (
  SELECT *, min(seq) OVER r AS first_s, max(seq) OVER r AS last_s,
         -- Copies that were not hardlinked were re-read apart: the oldest read stands for all.
         CASE WHEN bool_and(local_checked_at IS NOT NULL) OVER r THEN min(local_checked_at) OVER r END AS checked
  FROM runs
  WINDOW r AS (PARTITION BY series_id, path, run)
)
INSERT INTO file_versions (size, uid, gid, mtime_ns, local_checked_at, stored_size, series_id, first_seq, last_seq,
                           mode, class, has_wal, sha256, path, owner, grp, stored_path, stored_sha256, key_id,
                           xattrs, path_bytes)
SELECT DISTINCT ON (series_id, path, run)
       size, uid, gid, mtime_ns::bigint, checked, stored_size, series_id, first_s,
       CASE WHEN last_s = (SELECT last_seq FROM backup_series s WHERE s.id = spans.series_id) THEN NULL ELSE last_s END,
       mode, catalog_class_code(class), has_wal, decode(sha256, 'hex'), path, owner, grp,
       NULLIF(stored_path, catalog_default_stored_path(path, catalog_class_code(class))),
       decode(stored_sha256, 'hex'), key_id, xattrs, path_bytes
FROM spans
ORDER BY series_id, path, run, seq;

WITH rows AS (
  SELECT b.series_id, b.seq, n.*,
         lag(b.seq) OVER w AS prev_seq,
         lag(ROW(n.type, n.target, n.path_bytes, n.target_bytes, n.mode, n.uid, n.gid, n.owner, n.grp, n.mtime_ns, n.xattrs)) OVER w
           IS DISTINCT FROM
           ROW(n.type, n.target, n.path_bytes, n.target_bytes, n.mode, n.uid, n.gid, n.owner, n.grp, n.mtime_ns, n.xattrs) AS changed
  FROM backup_nodes n JOIN backups b ON b.id = n.backup_id
  WHERE b.seq IS NOT NULL
  WINDOW w AS (PARTITION BY b.series_id, n.path ORDER BY b.seq)
), runs AS (
  SELECT *, sum(CASE WHEN prev_seq IS NULL OR prev_seq <> seq - 1 OR changed THEN 1 ELSE 0 END)
              OVER (PARTITION BY series_id, path ORDER BY seq) AS run
  FROM rows
), spans AS (
  SELECT *, min(seq) OVER r AS first_s, max(seq) OVER r AS last_s FROM runs
  WINDOW r AS (PARTITION BY series_id, path, run)
)
INSERT INTO node_versions (uid, gid, mtime_ns, series_id, first_seq, last_seq, mode, type, path, target, owner, grp,
                           xattrs, path_bytes, target_bytes)
SELECT DISTINCT ON (series_id, path, run)
       uid, gid, mtime_ns::bigint, series_id, first_s,
       CASE WHEN last_s = (SELECT last_seq FROM backup_series s WHERE s.id = spans.series_id) THEN NULL ELSE last_s END,
       mode, CASE type WHEN 'dir' THEN 'd' ELSE 'l' END::"char", path, target, owner, grp, xattrs, path_bytes, target_bytes
FROM spans
ORDER BY series_id, path, run, seq;

DROP TABLE backup_nodes;

CREATE VIEW backup_nodes AS
SELECT b.id AS backup_id,
       v.path,
       CASE v.type WHEN 'd' THEN 'dir' ELSE 'symlink' END AS type,
       v.target,
       v.path_bytes,
       v.target_bytes,
       v.mode,
       v.uid,
       v.gid,
       v.owner,
       v.grp,
       v.mtime_ns::numeric(20, 0) AS mtime_ns,
       v.xattrs
FROM backups b
JOIN node_versions v ON v.series_id = b.series_id
 AND v.first_seq <= b.seq AND (v.last_seq IS NULL OR v.last_seq >= b.seq);

-- The entry no longer embeds the files: the seed's file map is built when exported.
UPDATE backups SET entry = entry - 'files';

DROP TABLE backup_files;

CREATE VIEW backup_files AS
SELECT b.id AS backup_id,
       v.path,
       COALESCE(v.stored_path, catalog_default_stored_path(v.path, v.class)) AS stored_path,
       catalog_class(v.class) AS class,
       v.size,
       encode(v.sha256, 'hex') AS sha256,
       v.has_wal,
       b.hashed_at,
       encode(v.stored_sha256, 'hex') AS stored_sha256,
       v.stored_size,
       v.key_id,
       encode(COALESCE(v.stored_sha256, v.sha256), 'hex') AS blob_sha256,
       v.mode,
       v.uid,
       v.gid,
       v.owner,
       v.grp,
       v.mtime_ns::numeric(20, 0) AS mtime_ns,
       v.xattrs,
       v.path_bytes,
       v.local_checked_at
FROM backups b
JOIN file_versions v ON v.series_id = b.series_id
 AND v.first_seq <= b.seq AND (v.last_seq IS NULL OR v.last_seq >= b.seq);

-- Rows written through the view (tests, hand repairs) land as versions of that backup alone.
CREATE FUNCTION backup_files_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b backups;
  n record;
  top integer;
BEGIN
  SELECT * INTO STRICT b FROM backups WHERE id = NEW.backup_id FOR UPDATE;
  IF b.seq IS NULL THEN
    -- The backup's first file: it becomes the newest of its series, holding nothing else yet.
    SELECT * INTO n FROM catalog_next_seq(b.id);
    UPDATE file_versions SET last_seq = n.o_seq - 1 WHERE series_id = n.o_series AND last_seq IS NULL;
    SELECT * INTO STRICT b FROM backups WHERE id = NEW.backup_id;
  ELSE
    PERFORM 1 FROM backup_series WHERE id = b.series_id FOR UPDATE;
  END IF;
  SELECT last_seq INTO top FROM backup_series WHERE id = b.series_id;
  IF NEW.hashed_at IS NOT NULL THEN
    UPDATE backups SET hashed_at = COALESCE(hashed_at, NEW.hashed_at) WHERE id = b.id;
  END IF;
  INSERT INTO file_versions (size, uid, gid, mtime_ns, local_checked_at, stored_size, series_id, first_seq, last_seq,
                             mode, class, has_wal, sha256, path, owner, grp, stored_path, stored_sha256, key_id,
                             xattrs, path_bytes)
  VALUES (NEW.size, NEW.uid, NEW.gid, NEW.mtime_ns::bigint, NEW.local_checked_at, NEW.stored_size, b.series_id,
          b.seq, CASE WHEN b.seq = top THEN NULL ELSE b.seq END, NEW.mode, catalog_class_code(NEW.class),
          NEW.has_wal, decode(NEW.sha256, 'hex'), NEW.path, NEW.owner, NEW.grp,
          NULLIF(NEW.stored_path, catalog_default_stored_path(NEW.path, catalog_class_code(NEW.class))),
          decode(NEW.stored_sha256, 'hex'), NEW.key_id, NEW.xattrs, NEW.path_bytes);
  RETURN NEW;
END $$;
CREATE TRIGGER backup_files_insert INSTEAD OF INSERT ON backup_files
  FOR EACH ROW EXECUTE FUNCTION backup_files_insert();

-- Removing a file from one backup splits the version around that backup's number.
CREATE FUNCTION backup_files_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b backups;
  v file_versions;
  vid tid;
  top integer;
BEGIN
  SELECT * INTO STRICT b FROM backups WHERE id = OLD.backup_id;
  SELECT last_seq INTO top FROM backup_series WHERE id = b.series_id FOR UPDATE;
  SELECT f.ctid INTO vid FROM file_versions f
  WHERE f.series_id = b.series_id AND f.path = OLD.path
    AND f.first_seq <= b.seq AND (f.last_seq IS NULL OR f.last_seq >= b.seq);
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT * INTO STRICT v FROM file_versions WHERE ctid = vid FOR UPDATE;
  IF v.first_seq < b.seq THEN
    UPDATE file_versions SET last_seq = b.seq - 1 WHERE ctid = vid;
  ELSE
    DELETE FROM file_versions WHERE ctid = vid;
  END IF;
  -- The part after this backup, when some backup there still holds it.
  IF (v.last_seq IS NULL AND b.seq < top) OR v.last_seq > b.seq THEN
    v.first_seq := b.seq + 1;
    INSERT INTO file_versions SELECT v.*;
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER backup_files_delete INSTEAD OF DELETE ON backup_files
  FOR EACH ROW EXECUTE FUNCTION backup_files_delete();
