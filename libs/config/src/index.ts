export * from './lifecycle.ts';
export * from './load.ts';
export * from './logger.ts';
export * from './schema.ts';
