export * from './expire.ts';
export * from './forget.ts';
export * from './gc.ts';
export * from './removal.ts';
export * from './report.ts';
export * from './retire.ts';
export * from './schedulers.ts';
