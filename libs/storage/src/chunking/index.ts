// Content-defined chunking (FastCDC) for storing large files as deduplicated ~128 KiB chunks.
// Why it is our own code and not an npm library: see cut-point.ts.
export { chunkStream, cutAt } from './chunk-stream.ts';
export { CutScanner, cutPoint } from './cut-point.ts';
export { type ChunkerParams, DEFAULT_CHUNKER_PARAMS, validateChunkerParams } from './params.ts';
