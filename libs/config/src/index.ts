export * from './encryption.ts';
export * from './lifecycle.ts';
export * from './load.ts';
export * from './logger.ts';
export * from './schema.ts';
export * from './secret-values.ts';
export * from './system-state.ts';
