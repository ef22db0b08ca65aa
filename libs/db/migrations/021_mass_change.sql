-- A backup in which more than massChangePercent of the previous backup's files changed or went
-- (libs/core/src/completeness.ts MassChange); null: not flagged.
ALTER TABLE backups ADD COLUMN mass_change jsonb;
