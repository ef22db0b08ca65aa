export * from './choose.ts';
export * from './overdue.ts';
export * from './run.ts';
export * from './schedule.ts';
export * from './schedulers.ts';
export { isSqliteFile } from './sqlite-check.ts';
