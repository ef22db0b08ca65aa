export * from './coverage.ts';
export * from './schedulers.ts';
export * from './wait-job.ts';
