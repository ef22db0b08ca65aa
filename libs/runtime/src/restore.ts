// The restore lives in ./restore/; this file keeps the runtime's export list unchanged.
export * from './restore/index.ts';
