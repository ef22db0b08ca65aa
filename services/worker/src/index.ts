export { type NotSqlite, type SqliteSnapshot, snapshotSqlite } from './fs/sqlite-snapshot.ts';
export * from './metadata-file.ts';
export {
  followUpCorrupt,
  type RecheckResult,
  recheckTargetCopy,
  type TargetRead,
} from './recheck/target-copy.ts';
export * from './roles.ts';
export { recheckTarget } from './stages/recheck.ts';
