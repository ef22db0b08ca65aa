export * from './role.ts';
export * from './server.ts';
