export { canonicalJson } from './canonical-json.ts';
export { chunkStream, cutAt, DEFAULT_CHUNKER_PARAMS } from './chunking/index.ts';
export {
  AlreadyExistsError,
  CorruptObjectError,
  IntegrityError,
  NotFoundError,
  PermanentError,
  StorageError,
  TransientError,
} from './errors.ts';
export { createFsTargetFromUrl, FsTarget, type FsTargetOptions } from './fs-target.ts';
export { hashStream, SHA256_HEX, Sha256Verifier } from './integrity.ts';
export {
  assertValidKey,
  assertValidPrefix,
  compareKeys,
  isValidKey,
  keyProblem,
  MAX_KEY_BYTES,
  splitPrefix,
} from './keys.ts';
export {
  assertSha256,
  BLOBS_PREFIX,
  backupPrefix,
  blobKey,
  HOSTS_PREFIX,
  hostPrefix,
  LISTINGS_DIR,
  listingKey,
  MANIFEST_NAME,
  manifestKey,
  PACKS_PREFIX,
  packKey,
  parseBlobKey,
  parseManifestKey,
  parsePackKey,
} from './layout.ts';
export {
  applySegments,
  deltaSegment,
  fullSegment,
  LISTING_FORMAT,
  type Listing,
  type ListingSegment,
  ListingSegmentSchema,
  ownSegment,
  parseSegment,
  storedSegment,
} from './listing.ts';
export {
  type BackupKind,
  FileAttributesSchema,
  MANIFEST_FORMAT,
  MAX_LISTING_SEGMENTS,
  type Manifest,
  type ManifestFile,
  ManifestFileSchema,
  type ManifestNode,
  ManifestNodeSchema,
  ManifestSchema,
  manifestText,
  parseManifest,
  serializeManifest,
} from './manifest.ts';
export { type BuiltPack, PackBuilder, putPack } from './packs/pack-builder.ts';
export type { PackEntry } from './packs/pack-format.ts';
export {
  type BlobPlace,
  type BlobRead,
  blobObject,
  type ChunkedPlace,
  indexPacks,
  openBlob,
  type PackPlace,
  readPackBlobs,
  readPackIndex,
} from './packs/pack-read.ts';
export { openBody, usingBody } from './put-body.ts';
export { assertValidRange, resolveRange } from './range.ts';
export {
  assertValidTargetName,
  createTarget,
  knownTargetSchemes,
  RESERVED_TARGET_NAMES,
  redactUrl,
  registerTargetScheme,
  TARGET_NAME,
} from './registry.ts';
export {
  created,
  existingObject,
  hasBlob,
  listAll,
  putBlobIfAbsent,
  readListedManifest,
  readManifest,
  readObject,
  writeManifest,
} from './repository.ts';
export {
  DEFAULT_RETRY_POLICY,
  isRetryable,
  RetriesExhaustedError,
  type RetryClock,
  type RetryEvent,
  type RetryPolicy,
  realRetryClock,
} from './retry/retry-policy.ts';
export { RetryingTarget, type RetryingTargetOptions } from './retry/retrying-target.ts';
export { HEADER_BYTES as SEALED_HEADER_BYTES, plainSize, storedSize } from './sealed/format.ts';
export {
  type DataKeyStore,
  KEYS_PREFIX,
  keysOnTarget,
  type MasterKeys,
  SealingKeys,
  type WrappedDataKey,
} from './sealed/keys.ts';
export { SealedTarget } from './sealed/sealed-target.ts';
export type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  ReadOnlyTarget,
  StorageTarget,
  TargetKind,
} from './target.ts';
export { readOnly, writeOnly } from './target.ts';
export type { TargetFactory, TargetFactoryInput, TargetSpec } from './target-spec.ts';
