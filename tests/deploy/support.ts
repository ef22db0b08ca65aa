import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return path.join(REPO, ...parts);
}

export function readText(relative: string): string {
  return readFileSync(repoPath(relative), 'utf8');
}

/** One YAML document; `<<` merge keys resolved as docker compose resolves them. */
export function readYaml<T>(relative: string): T {
  return parse(readText(relative), { merge: true, strict: true, uniqueKeys: true }) as T;
}

/** Every document of a multi-document YAML file; a syntax error in any one fails. */
export function readYamlDocs<T>(relative: string): T[] {
  return parseAllDocuments(readText(relative), { strict: true, uniqueKeys: true }).map((doc) => {
    if (doc.errors.length) throw new Error(`${relative}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as T;
  });
}

/**
 * The environment variables fleet-backup reads: every name libs/config/src reads from `env`
 * (`env.NAME`, `env['NAME']`, or a helper called as `fn(env, 'NAME', …)`).
 */
export function configEnvNames(): Set<string> {
  const dir = repoPath('libs/config/src');
  const names = new Set<string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)/g,
    /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
    /\(env, '([A-Z][A-Z0-9_]*)'/g,
  ];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    for (const re of patterns) for (const m of source.matchAll(re)) names.add(m[1]!);
  }
  return names;
}

/** Variables the deploy files set that are read by something other than libs/config, and by what. */
export const OTHER_ENV_READERS: Record<string, string> = {
  AWS_ACCESS_KEY_ID: "the AWS SDK's default credential chain (S3 targets)",
  AWS_SECRET_ACCESS_KEY: "the AWS SDK's default credential chain (S3 targets)",
  HEALTHCHECK_URL: 'infra/docker/healthcheck.mjs, the image HEALTHCHECK',
  NODE_ENV: 'Node libraries (set by the Dockerfile)',
};

/** Names in `names` that nothing reads: a typo there would be silently ignored. */
export function unreadEnvNames(names: Iterable<string>): string[] {
  const read = configEnvNames();
  return [...new Set(names)].filter((n) => !read.has(n) && !(n in OTHER_ENV_READERS)).sort();
}

/** Whether a command runs here (exit 0), for checks that need a tool this machine may lack. */
export function commandWorks(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Paths relative to the repository that exist. */
export function missing(paths: string[]): string[] {
  return paths.filter((p) => !existsSync(repoPath(p)));
}
