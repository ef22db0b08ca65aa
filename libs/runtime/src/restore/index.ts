export { OwnershipDenied, type RestoreNote, utimesSeconds } from './attributes.ts';
export { PathInTheWay } from './dir-tree.ts';
export * from './model.ts';
export { AlreadyExists } from './place.ts';
export { type RestoredFile, type RestoreOptions, type RestoreResult, restoreFiles } from './restore.ts';
export * from './select.ts';
export * from './sources.ts';
export { assertSafeRestoreSet, UnsafeRestoreSet } from './validate.ts';
export { RestoreMismatch } from './write-file.ts';
