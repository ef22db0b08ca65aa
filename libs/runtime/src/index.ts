export * from './memory-governor.ts';
export * from './pipeline.ts';
export * from './requests.ts';
export * from './restore.ts';
export * from './restore-sources.ts';
export * from './runtime.ts';
export * from './targets.ts';
export * from './views.ts';
