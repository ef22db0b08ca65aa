export * from './backup-store.ts';
export * from './blob-index.ts';
export * from './host-store.ts';
export * from './metadata-export.ts';
export * from './migrate.ts';
export * from './pool.ts';
export * from './restore-log.ts';
export * from './rows.ts';
