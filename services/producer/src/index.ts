export * from './role.ts';
export * from './server.ts';
export * from './views.ts';
