-- One open finding per object (per host, for local copies), held by the database itself: two
-- repairs that found the same source bad at once each recorded it, so it was counted twice.
DELETE FROM rot_findings f USING rot_findings g
 WHERE f.healed_at IS NULL AND g.healed_at IS NULL AND f.copy = g.copy AND f.object = g.object
   AND (f.copy <> 'local' OR f.host = g.host) AND f.id > g.id;
CREATE UNIQUE INDEX rot_findings_one_open
  ON rot_findings (copy, object, (CASE WHEN copy = 'local' THEN host ELSE '' END))
  WHERE healed_at IS NULL;
