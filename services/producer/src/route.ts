import { BadInputError, describeIssues, type TokenScope } from '@fleet-backup/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

/** Bodies of API requests are small JSON documents; anything larger is refused with 413 before it is parsed. */
export const API_BODY_LIMIT = 64 * 1024;

/** What a route takes, each part a zod schema; an absent part must be absent from the request. */
export interface RouteSpec<P, Q, B> {
  method: 'GET' | 'POST';
  url: string;
  /** Scopes besides admin that may call it (see auth.ts); absent: admin only. */
  scopes?: readonly TokenScope[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

const NO_QUERY = z.strictObject({});
const NO_PARAMS = z.strictObject({});
const NO_BODY = z.undefined({ error: 'this route takes no body' });

/**
 * Declares an API route whose params, query and body are parsed before the handler runs, so
 * nothing malformed reaches Postgres, Redis or a log line: any part that does not parse (an
 * unknown query parameter, a body where none is taken) is a 400 naming the part and the field.
 */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  app: FastifyInstance,
  spec: RouteSpec<P, Q, B>,
  handler: (input: RouteInput<P, Q, B>, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  const schemas = {
    params: spec.params ?? (NO_PARAMS as unknown as z.ZodType<P>),
    query: spec.query ?? (NO_QUERY as unknown as z.ZodType<Q>),
    body: spec.body ?? (NO_BODY as unknown as z.ZodType<B>),
  };
  app.route({
    method: spec.method,
    url: spec.url,
    bodyLimit: API_BODY_LIMIT,
    ...(spec.scopes ? { config: { scopes: spec.scopes } } : {}),
    handler: async (req, reply) => {
      // Fastify does not parse a GET's body; one sent anyway is still a malformed request.
      if (!spec.body && carriesBody(req)) {
        throw new BadInputError(`${spec.method} ${spec.url} takes no body; send parameters in the query`);
      }
      const input = {
        params: parsePart(schemas.params, req.params, 'path parameter'),
        query: parsePart(schemas.query, req.query, 'query'),
        body: parsePart(schemas.body, req.body, 'body'),
      };
      return handler(input, req, reply);
    },
  });
}

function carriesBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** Parses one part of a request, or throws BadInputError (400) naming the part and the field. */
export function parsePart<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadInputError(`invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
