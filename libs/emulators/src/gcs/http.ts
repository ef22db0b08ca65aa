import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** An error answered as Google's JSON error shape, with the reason the client libraries branch on. */
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, message: string, reason = defaultReason(status)) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function defaultReason(status: number): string {
  switch (status) {
    case 400:
      return 'invalid';
    case 404:
      return 'notFound';
    case 409:
      return 'conflict';
    case 412:
      return 'conditionNotMet';
    case 416:
      return 'requestedRangeNotSatisfiable';
    default:
      return 'backendError';
  }
}

/** `{ error: { code, message, errors: [...] } }`, as the JSON API answers failures. */
export function googleErrorBody(status: number, message: string, reason: string): string {
  return JSON.stringify({
    error: { code: status, message, errors: [{ message, domain: 'global', reason }] },
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  const text = googleErrorBody(err.status, err.message, err.reason);
  res.writeHead(err.status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads a small request body (JSON metadata); anything past `limit` bytes is a client error. */
export async function readSmallBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new HttpError(400, `request body larger than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON object body; an empty body is an empty object. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readSmallBody(req);
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON', 'parseError');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'request body must be a JSON object', 'invalid');
  }
  return parsed as Record<string, unknown>;
}

/** Where the client reached us, so links we hand out (resumable `Location`) point back here. */
export function baseUrl(req: IncomingMessage): string {
  return `http://${req.headers.host ?? 'localhost'}`;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
