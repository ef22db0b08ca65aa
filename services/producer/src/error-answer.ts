import { BadInputError, describeIssues, NotFoundFailure, OutOfScopeError } from '@fleet-backup/core';
import { ZodError } from 'zod';

export interface ErrorAnswer {
  status: number;
  body: { error: string; message: string };
  /** How to log it: a client's mistake is `info`, only our own failure is `error` ("request failed"). */
  level: 'info' | 'error';
}

/** What the request was, for messages: its method, route and body limit. */
export interface RequestFacts {
  method: string;
  url: string;
  bodyLimit?: number | undefined;
}

// Postgres refusing a value the client sent: class 22 (data exception: a NUL byte, a lone
// surrogate, a malformed number or date, a value too long) and 54000 (program limit exceeded:
// an index row too large). Nothing on our side failed, so the answer is 400, never 500.
const CLIENT_SQLSTATE = /^(22[0-9A-Z]{3}|54000)$/;

/** A Postgres error (pg's DatabaseError carries the SQLSTATE in `code` and a `severity`). */
function sqlState(err: unknown): string | null {
  if (!(err instanceof Error) || !('severity' in err)) return null;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/**
 * The one mapping from an error to an HTTP answer. Bad input is 400 naming the field, a request
 * out of scope 403, something unknown 404, a body too large 413, and anything Postgres refuses
 * as a bad value 400. Only a failure of ours is a 500, and only that is logged as an error; its
 * message never leaves the producer (it may name internals), the log has it.
 */
export function errorAnswer(err: unknown, req: RequestFacts): ErrorAnswer {
  const client = (status: number, error: string, message: string): ErrorAnswer => ({
    status,
    body: { error, message },
    level: 'info',
  });
  if (err instanceof ZodError) return client(400, 'bad_request', describeIssues(err));
  if (err instanceof OutOfScopeError) return client(403, 'forbidden', err.message);
  if (err instanceof NotFoundFailure) return client(404, 'not_found', err.message);
  if (err instanceof BadInputError) return client(400, 'bad_request', err.message);
  const state = sqlState(err);
  if (state !== null && CLIENT_SQLSTATE.test(state)) {
    return client(
      400,
      'bad_request',
      `${req.method} ${req.url}: a value in the request cannot be stored (${(err as Error).message}); check it for control characters and invalid Unicode`,
    );
  }
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500)
    return frameworkAnswer(err as Error, status, req);
  return {
    status: 500,
    body: { error: 'internal', message: 'internal error; see the producer log' },
    level: 'error',
  };
}

/** Fastify's own 4xx (body too large, wrong content type, malformed JSON), in our words. */
function frameworkAnswer(err: Error, status: number, req: RequestFacts): ErrorAnswer {
  const code = (err as { code?: unknown }).code;
  if (status === 413 || code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = req.bodyLimit ?? 0;
    return {
      status: 413,
      body: {
        error: 'payload_too_large',
        message: `request body is larger than ${limit} bytes, the most ${req.method} ${req.url} accepts; name fewer paths (at most 100, a common parent directory covers many) or shorter texts`,
      },
      level: 'info',
    };
  }
  if (status === 415) {
    return {
      status,
      body: {
        error: 'unsupported_media_type',
        message: `${err.message}; send the body as JSON with Content-Type: application/json`,
      },
      level: 'info',
    };
  }
  return { status, body: { error: 'bad_request', message: err.message }, level: 'info' };
}
