export * from './catalog.ts';
export * from './fleet-metrics.ts';
export * from './http-server.ts';
export * from './probes.ts';
export * from './process-metrics.ts';
export * from './scrape.ts';
