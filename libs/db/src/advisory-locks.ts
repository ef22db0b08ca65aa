/**
 * Every fixed Postgres advisory lock key, in one place. Two uses that share a key wait on each
 * other for nothing: the listing lock first took the expire run's key, and every expire then
 * waited on itself. The keys made with hashtext() from an id (a backup's, a blob's) are int4, so
 * they never meet these, which are above 2^31.
 */
export const ADVISORY_LOCKS = {
  /** One migrator at a time (migrate.ts). */
  migration: 7_241_905_113,
  /** Blob references against gc (blob-refs.ts). */
  blobRefs: 7_241_905_114,
  /** One expire run at a time (libs/runtime lifecycle/expire.ts). */
  expireRun: 7_241_905_115,
  /** Listing chains against the removal of their segments (listing-store.ts). */
  listingRefs: 7_241_905_116,
  /** One configuration version applied at a time (config-store.ts). */
  configApply: 7_241_905_117,
} as const;
