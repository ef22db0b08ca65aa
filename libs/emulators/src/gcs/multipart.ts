import type { FileSink } from './content.ts';
import { HttpError } from './http.ts';

export interface MultipartUpload {
  /** The first part: the object's JSON metadata. */
  metadata: Record<string, unknown>;
  /** Content-Type of the media part. */
  mediaType: string | undefined;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 64 << 10;
const MAX_METADATA_BYTES = 1 << 20;

type State = 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done';

/**
 * Streams a `multipart/related` upload (JSON metadata part, then media part) without holding the
 * media in memory: media bytes go to `media` as they arrive, minus a tail the size of the
 * delimiter kept back in case the delimiter straddles two network chunks.
 */
export async function receiveMultipart(
  body: AsyncIterable<Buffer>,
  boundary: string,
  media: FileSink,
): Promise<MultipartUpload> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // A leading CRLF lets the first boundary line match the same delimiter as the others.
  let buf: Buffer = Buffer.from(CRLF);
  // Widened on purpose: the closure below advances it, which flow analysis cannot see.
  let state = 'preamble' as State;
  let part = -1;
  const metadataChunks: Buffer[] = [];
  let metadataSize = 0;
  let mediaType: string | undefined;

  const emit = async (data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    if (part === 0) {
      metadataSize += data.length;
      if (metadataSize > MAX_METADATA_BYTES) throw new HttpError(400, 'metadata part too large');
      metadataChunks.push(Buffer.from(data));
    } else if (part === 1) {
      await media.write(data);
    } else {
      throw new HttpError(400, 'multipart upload must have exactly two parts (metadata, media)');
    }
  };

  // Runs the state machine as far as the buffered bytes allow; returns when it needs more input.
  const advance = async (): Promise<void> => {
    for (;;) {
      if (state === 'preamble' || state === 'body') {
        const idx = buf.indexOf(delimiter);
        if (idx < 0) {
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (state === 'body') await emit(buf.subarray(0, buf.length - keep));
          buf = buf.subarray(buf.length - keep);
          return;
        }
        if (state === 'body') await emit(buf.subarray(0, idx));
        buf = buf.subarray(idx + delimiter.length);
        state = 'afterDelimiter';
      } else if (state === 'afterDelimiter') {
        if (buf.length < 2) return;
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = 'done';
          return;
        }
        const eol = buf.indexOf(CRLF);
        if (eol < 0) return;
        buf = buf.subarray(eol + CRLF.length);
        state = 'headers';
      } else if (state === 'headers') {
        const end = buf.subarray(0, 2).equals(CRLF) ? -2 : buf.indexOf(HEADER_END);
        if (end === -1) {
          if (buf.length > MAX_HEADER_BYTES) throw new HttpError(400, 'multipart part headers too large');
          return;
        }
        const headerText = end < 0 ? '' : buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end < 0 ? 2 : end + HEADER_END.length);
        part++;
        if (part === 1) mediaType = contentTypeOf(headerText);
        state = 'body';
      } else {
        return;
      }
    }
  };

  for await (const chunk of body) {
    if (state === 'done') continue;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    await advance();
  }
  if (state !== 'done' || part !== 1) throw new HttpError(400, 'incomplete multipart upload body');
  return { metadata: parseMetadata(Buffer.concat(metadataChunks)), mediaType };
}

function contentTypeOf(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'content-type') {
      return line.slice(colon + 1).trim();
    }
  }
  return undefined;
}

function parseMetadata(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // reported below
  }
  throw new HttpError(400, 'metadata part is not a JSON object', 'parseError');
}

/** The boundary parameter of a `multipart/related; boundary=…` content type. */
export function boundaryOf(contentType: string | undefined): string {
  const match = /boundary=(?:"([^"]+)"|'([^']+)'|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2] ?? match?.[3];
  if (!contentType?.toLowerCase().startsWith('multipart/') || !boundary) {
    throw new HttpError(400, 'multipart upload needs a multipart Content-Type with a boundary');
  }
  return boundary;
}
