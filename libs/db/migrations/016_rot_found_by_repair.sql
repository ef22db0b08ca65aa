-- A repair that takes a blob from another target and finds that target's bytes bad too has found
-- rot there: it is recorded like any other finding, as the repair's.
ALTER TABLE rot_findings DROP CONSTRAINT rot_findings_found_by_check;
ALTER TABLE rot_findings
  ADD CONSTRAINT rot_findings_found_by_check CHECK (found_by IN ('verify', 'recheck', 'drill', 'cli', 'repair'));
