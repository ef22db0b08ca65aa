export * from './catalog.ts';
export * from './connection.ts';
export * from './job-inspection.ts';
export * from './job-queues.ts';
export * from './job-schedulers.ts';
export * from './names.ts';
export * from './redis-settings.ts';
export * from './stage-worker.ts';
