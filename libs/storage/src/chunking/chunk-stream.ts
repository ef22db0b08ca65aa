import { CutScanner } from './cut-point.ts';
import { type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from './params.ts';

/**
 * Splits a byte stream into content-defined chunks (FastCDC), yielded in order as fresh Buffers.
 *
 * The chunks concatenate to the input; all but the last are within [minSize, maxSize]; the last is
 * at most maxSize and may be shorter than minSize; empty input yields nothing. Boundaries depend
 * only on the bytes, never on how the source split them.
 *
 * Memory: the bytes of the unfinished chunk (< maxSize) are kept as views of the source's buffers
 * until the chunk is cut, then copied once into the yielded Buffer, which the caller owns. So the
 * source must not reuse a buffer after yielding it (Node's fs and net streams never do), and a
 * pending chunk can keep alive up to about maxSize plus two source buffers.
 */
export async function* chunkStream(
  source: AsyncIterable<Buffer | Uint8Array>,
  params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
): AsyncGenerator<Buffer> {
  const scanner = new CutScanner(params);
  let pieces: Uint8Array[] = [];
  let pendingBytes = 0;

  for await (const input of source) {
    if (!(input instanceof Uint8Array)) {
      // A stream opened with an encoding yields strings, whose bytes we cannot know.
      throw new TypeError(`chunkStream: source yielded ${typeof input}, expected Buffer or Uint8Array`);
    }
    let from = 0;
    while (from < input.length) {
      const cut = scanner.scan(input, from, input.length);
      if (cut < 0) {
        pieces.push(from === 0 ? input : input.subarray(from));
        pendingBytes += input.length - from;
        break;
      }
      pieces.push(input.subarray(from, cut));
      yield Buffer.concat(pieces, pendingBytes + cut - from);
      pieces = [];
      pendingBytes = 0;
      from = cut;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pieces, pendingBytes);
}

/**
 * The source cut where a chunk list recorded before says: pieces of `sizes` bytes in order, then
 * whatever is left as one more piece (a source that grew), and a short last piece when the source
 * ends early. For a file cut before, this skips the gear hash: the caller checks each piece
 * against its recorded sha256.
 */
export async function* cutAt(
  source: AsyncIterable<Buffer | Uint8Array>,
  sizes: readonly number[],
): AsyncGenerator<Buffer> {
  let next = 0;
  let pieces: Uint8Array[] = [];
  let pending = 0;
  for await (const input of source) {
    let from = 0;
    while (from < input.length) {
      const want = sizes[next];
      if (want === undefined) {
        pieces.push(input.subarray(from));
        pending += input.length - from;
        break;
      }
      const take = Math.min(want - pending, input.length - from);
      pieces.push(input.subarray(from, from + take));
      pending += take;
      from += take;
      if (pending === want) {
        yield Buffer.concat(pieces, pending);
        pieces = [];
        pending = 0;
        next++;
      }
    }
  }
  if (pending > 0) yield Buffer.concat(pieces, pending);
}
