export * from './metadata-file.ts';
export * from './roles.ts';
