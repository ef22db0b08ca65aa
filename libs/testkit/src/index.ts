export * from './containers.ts';
export * from './isolation.ts';
export * from './services.ts';
