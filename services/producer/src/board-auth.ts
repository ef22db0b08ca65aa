import type { Config } from '@fleet-backup/config';
import { BadInputError, type Principal, sameSecret } from '@fleet-backup/core';
import type { TokenStore } from '@fleet-backup/db';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AuthOptions, basicCredentials, isLoopback, presented, principalFor } from './auth.ts';

/** Basic-auth users of the board, from configuration; a null password means no such login. */
export interface BoardLogins {
  admin: string | null;
  viewer: string | null;
}

/** Short enough to guess over a network is too short; `openssl rand -base64 24` gives 32. */
const MIN_PASSWORD_LENGTH = 12;
const REALM = 'Basic realm="fleet-backup board", charset="UTF-8"';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The board logins of the configuration, checked: long enough, and not one password for both roles. */
export function boardLogins(config: Config): BoardLogins {
  const logins = { admin: config.boardAdminPassword, viewer: config.boardViewerPassword };
  for (const [role, password] of Object.entries(logins)) {
    if (password !== null && password.length < MIN_PASSWORD_LENGTH) {
      throw new BadInputError(
        `BOARD_${role.toUpperCase()}_PASSWORD is shorter than ${MIN_PASSWORD_LENGTH} characters; use a generated one (openssl rand -base64 24)`,
      );
    }
  }
  // Usernames are not secret: with one password for both, the viewer could log in as admin.
  if (logins.admin !== null && logins.admin === logins.viewer) {
    throw new BadInputError('BOARD_VIEWER_PASSWORD must differ from BOARD_ADMIN_PASSWORD');
  }
  return logins;
}

/**
 * The producer's start check: Bull Board has no default password, so outside dev mode someone
 * must be able to log in (a board password, API_TOKEN, or a live admin or read token) or the
 * producer does not start (BadInputError: exit code 2). Returns the warning to log when dev mode
 * leaves the board open to loopback clients instead.
 */
export async function checkBoardLogin(config: Config, tokens: TokenStore): Promise<string | null> {
  const logins = boardLogins(config);
  if (logins.admin !== null || logins.viewer !== null || config.apiToken !== null) return null;
  const live = await tokens.list();
  if (live.some((t) => t.scope === 'admin' || t.scope === 'read')) return null;
  if (config.devMode) {
    return 'DEV MODE: Bull Board is served to loopback clients without a login (no BOARD_ADMIN_PASSWORD, API_TOKEN or token); never run a producer like this in production';
  }
  throw new BadInputError(
    'Bull Board needs a login and none is configured: set BOARD_ADMIN_PASSWORD (and BOARD_VIEWER_PASSWORD ' +
      'for the read-only board), or API_TOKEN, or create a token with `fleet-backup tokens create --scope admin`; ' +
      'on a workstation, FLEET_BACKUP_DEV=1 serves the board to loopback clients without a login',
  );
}

export interface BoardGateOptions {
  logins: BoardLogins;
  /** Dev mode: with no login configured at all, direct loopback clients get the full board. */
  devMode: boolean;
  auth: AuthOptions;
}

export type BoardHook = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

export interface BoardGate {
  /** The full board: admins only; a viewer asking for a page is sent to the read-only board. */
  full(paths: { full: string; readOnly: string }): BoardHook;
  /** The read-only board: admins and viewers, and reads only, whatever the board itself would allow. */
  readOnly: BoardHook;
}

/**
 * Who may open Bull Board, decided before the board sees the request. A browser logs in with
 * basic auth: user `admin` or `viewer` with its configured password, or any user name with an
 * API token as the password (a token also works as `Authorization: Bearer`). Admin-scoped
 * tokens get the full board, read-scoped ones the read-only board, other scopes nothing. The
 * read-only board's gate refuses every write (its adapters would too), and the full board's
 * answers a viewer 403 on its API, so a viewer cannot retry or remove a job even by hand.
 */
export function boardGate(opts: BoardGateOptions): BoardGate {
  const identify = (req: FastifyRequest) => boardPrincipal(req, opts);
  return {
    full: (paths) =>
      async function fullBoardGate(req, reply) {
        const who = await identify(req);
        if (!isPrincipal(who)) return deny(reply, who, opts);
        if (who.scope === 'admin') return admit(req, who, opts);
        const { pathname, search } = new URL(req.url, 'http://board');
        const page = req.method === 'GET' && !pathname.includes('/api/');
        if (page) return reply.redirect(paths.readOnly + pathname.slice(paths.full.length) + search, 303);
        const message = `${who.name} may only read: ${req.method} ${pathname} needs an admin login (the read-only board is ${paths.readOnly})`;
        return deny(reply, forbidden(message), opts);
      },
    async readOnly(req, reply) {
      const who = await identify(req);
      if (!isPrincipal(who)) return deny(reply, who, opts);
      if (!SAFE_METHODS.has(req.method)) {
        return deny(
          reply,
          forbidden('this is the read-only board: retry and remove need the admin login'),
          opts,
        );
      }
      return admit(req, who, opts);
    },
  };
}

interface Denial {
  status: 401 | 403;
  message: string;
}

const isPrincipal = (x: Principal | Denial): x is Principal => 'scope' in x;
const forbidden = (message: string): Denial => ({ status: 403, message });

async function boardPrincipal(req: FastifyRequest, opts: BoardGateOptions): Promise<Principal | Denial> {
  const login = loginOf(req, opts.logins);
  if (login) return login;
  const secret = presented(req);
  if (secret === null) {
    if (await openToLoopback(req, opts))
      return { name: 'loopback (dev mode)', scope: 'admin', hosts: [], pathPrefixes: [] };
    return {
      status: 401,
      message: 'log in: user admin or viewer with its board password, or an API token as the password',
    };
  }
  const who = await principalFor(secret, opts.auth);
  if (typeof who === 'string') return { status: 401, message: `wrong password, or ${who}` };
  if (who.scope === 'admin' || who.scope === 'read') return who;
  return forbidden(
    `token ${who.name} has scope ${who.scope}; Bull Board needs admin, or read for the read-only board`,
  );
}

/** Basic auth as `admin` or `viewer` with that login's password; both compared in constant time. */
function loginOf(req: FastifyRequest, logins: BoardLogins): Principal | null {
  const basic = basicCredentials(req);
  if (basic === null || basic.user === null) return null;
  const { user, password } = basic;
  const adminOk = logins.admin !== null && sameSecret(password, logins.admin);
  const viewerOk = logins.viewer !== null && sameSecret(password, logins.viewer);
  if (user === 'admin' && adminOk)
    return { name: 'board admin', scope: 'admin', hosts: [], pathPrefixes: [] };
  if (user === 'viewer' && viewerOk)
    return { name: 'board viewer', scope: 'read', hosts: [], pathPrefixes: [] };
  return null;
}

/** Dev mode with nothing to log in with: a direct loopback client, until the first token is created. */
async function openToLoopback(req: FastifyRequest, opts: BoardGateOptions): Promise<boolean> {
  const configured = opts.logins.admin !== null || opts.logins.viewer !== null || opts.auth.token !== null;
  return opts.devMode && !configured && isLoopback(req) && !(await opts.auth.tokens.anyLive());
}

function admit(req: FastifyRequest, who: Principal, opts: BoardGateOptions): undefined {
  req.principal = who;
  // Retries, removals and pauses change what happens to backups: who did it goes on record.
  if (!SAFE_METHODS.has(req.method)) {
    opts.auth.log?.info({ principal: who.name, method: req.method, url: req.url }, 'bull board action');
  }
  return undefined;
}

function deny(reply: FastifyReply, denial: Denial, opts: BoardGateOptions): FastifyReply {
  const req = reply.request;
  opts.auth.log?.info(
    { method: req.method, url: req.url, reason: denial.message },
    'bull board request refused',
  );
  if (denial.status === 401) reply.header('www-authenticate', REALM);
  return reply
    .code(denial.status)
    .send({ error: denial.status === 401 ? 'unauthorized' : 'forbidden', message: denial.message });
}
