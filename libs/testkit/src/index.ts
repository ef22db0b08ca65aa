export * from './isolation.ts';
export * from './services.ts';
