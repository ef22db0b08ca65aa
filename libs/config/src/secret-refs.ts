import { readFileSync } from 'node:fs';
import { PermanentFailure } from '@fleet-backup/core';
import { z } from 'zod';
import { isSecretName } from './secret-names.ts';

/**
 * Where a role finds a secret on its own machine: an environment variable, or a file (its content,
 * without the trailing newline). The configuration, kept in the catalog, holds only these.
 */
export type SecretRef = { env: string } | { file: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const secretRefSchema = z.union([
  z.strictObject({ env: z.string().regex(ENV_NAME, 'an environment variable name') }),
  z.strictObject({ file: z.string().startsWith('/', 'an absolute path') }),
]);

export function isSecretRef(value: unknown): value is SecretRef {
  return secretRefSchema.safeParse(value).success;
}

const REFUSED =
  'a secret is never stored in the configuration: give {"env": "NAME"} or {"file": "/path"}, where each role finds it';

const BAD_REF =
  'a reference is {"env": "NAME"} (a variable name) or {"file": "/absolute/path"}, and nothing else';

/**
 * Adds an issue for every secret given in the clear in a target's options: a string under a
 * secret-looking name (secretAccessKey, sessionToken, password…), at any depth.
 */
export function refuseClearSecrets(options: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const visit = (value: unknown, path: (string | number)[]) => {
    const name = path.at(-1);
    if (typeof value === 'string' && typeof name === 'string' && isSecretName(name)) {
      ctx.addIssue({ code: 'custom', path, message: REFUSED });
    } else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) visit(v, [...path, i]);
    } else if (value && typeof value === 'object' && !isSecretRef(value)) {
      if ('env' in value || 'file' in value) ctx.addIssue({ code: 'custom', path, message: BAD_REF });
      else for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
    }
  };
  visit(options, []);
}

type Env = Record<string, string | undefined>;

/**
 * The options with every reference replaced by the secret it names, read now from this process's
 * environment or files. A missing one fails with a message naming the variable or file and where
 * the configuration asks for it, and nothing else (never a value).
 */
export function resolveSecretRefs(
  options: Record<string, unknown>,
  where: string,
  env: Env = process.env,
): Record<string, unknown> {
  const resolve = (value: unknown, path: string): unknown => {
    if (isSecretRef(value)) return readSecret(value, path, env);
    if (Array.isArray(value)) return value.map((v, i) => resolve(v, `${path}[${i}]`));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, `${path}.${k}`)]));
    }
    return value;
  };
  return resolve(options, where) as Record<string, unknown>;
}

function readSecret(ref: SecretRef, path: string, env: Env): string {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) {
      throw new PermanentFailure(
        `${path} needs the environment variable ${ref.env}, which is not set for this process: set it where this role runs`,
      );
    }
    return value;
  }
  try {
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new PermanentFailure(
      `${path} needs the file ${ref.file}, which this process cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'}): put it where this role runs`,
    );
  }
}

/** The secrets the references in `config` name, as far as this process can read them: for log scrubbing. */
export function referencedSecrets(config: unknown, env: Env = process.env): string[] {
  const found: string[] = [];
  const visit = (value: unknown) => {
    if (isSecretRef(value)) {
      try {
        found.push(readSecret(value, '', env));
      } catch {
        // Not available here: nothing to scrub.
      }
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(config);
  return found;
}
