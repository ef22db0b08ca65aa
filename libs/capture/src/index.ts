// walk-tree.ts is walk.ts's own machinery: callers walk through walk().
export * from './attributes.ts';
export * from './bounded.ts';
export * from './environment.ts';
export * from './found.ts';
export * from './generated.ts';
export * from './manifests.ts';
export * from './owner-names.ts';
export * from './plan.ts';
export * from './plan-state.ts';
export * from './roots.ts';
export * from './sqlite-head.ts';
export * from './take-or-skip.ts';
export * from './tree-reader.ts';
export * from './verified-open.ts';
export * from './walk.ts';
