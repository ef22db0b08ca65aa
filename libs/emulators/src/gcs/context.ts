import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GcsEnforcement } from './iam.ts';
import type { SessionStore } from './sessions.ts';
import type { GcsStore } from './store.ts';

/** Everything a handler needs for one request. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** `http://host:port` as the client addressed us. */
  base: string;
  store: GcsStore;
  sessions: SessionStore;
  /** Tokens and bucket IAM policies to hold requests to; absent, every request is allowed. */
  enforce?: GcsEnforcement;
}

/** Reads and discards a request body we have no use for, so the connection can be reused. */
export async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}
