import { assertCleanAbsolutePath } from '@fleet-backup/core';
import { z } from 'zod';

/** An absolute, normalised path (a glob's `..` could otherwise reach past the agent's roots). */
export const cleanAbsolute = (what = 'path') =>
  z.string().superRefine((p, ctx) => {
    try {
      assertCleanAbsolutePath(p, what);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/**
 * A variable-name glob: letters, digits and `_`, with `*` (any run) and `?` (one character).
 * Matching is case-sensitive, as variable names are on Linux.
 */
const nameGlob = z
  .string()
  .regex(/^[A-Za-z0-9_*?]{1,256}$/, 'a variable-name glob uses letters, digits, _, * and ? only');

/**
 * `hosts.<id>.environment`: the agent's own environment variables captured into
 * `environment.config`. Absent: no environment is captured. Names matching the secret patterns
 * (`secretPatterns`) go to `environment.secrets.config` instead, which is encrypted or skipped.
 */
export const environmentSchema = z.strictObject({
  /** Name globs to capture, e.g. `["APP_*", "NODE_ENV"]`. */
  allow: z.array(nameGlob).min(1).max(1000),
});

const MIB = 1024 * 1024;

/**
 * A command whose output records what is installed, e.g. `{ "name": "dpkg", "argv":
 * ["dpkg-query", "-W"] }`. Run without a shell (argv[0] is looked up on PATH), with no stdin and
 * a minimal environment (PATH, HOME, LC_ALL=C), so no agent credential can reach it or its output.
 */
export const dependencyCommandSchema = z.strictObject({
  /** Names the command's record in `dependencies.config`; unique per host. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a command name is [A-Za-z0-9._-], up to 64'),
  argv: z.array(z.string().max(4096)).min(1).max(256),
  /** Absolute working directory (e.g. the app for `npm ls`); default: the agent's. */
  cwd: cleanAbsolute('cwd').optional(),
  /** Killed (its whole process group) after this long; the output so far is kept. Default 60. */
  timeoutSeconds: z.number().int().min(1).max(3600).default(60),
  /** Output kept past this is cut and the command stopped. Default 16 MiB. */
  maxOutputBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * MIB)
    .default(16 * MIB),
});

/**
 * `hosts.<id>.dependencies`: package manifests, lockfiles and installed-package lists captured
 * into `dependencies.config`. A missing manifest or a failing command is recorded there, never
 * failing the backup.
 */
export const dependenciesSchema = z
  .strictObject({
    /**
     * Absolute paths or globs (`/srv/app/package.json`, `/opt/app-?/go.sum`); `node_modules` and
     * `.git` directories are never searched. Only files inside the agent's roots are read.
     */
    manifests: z.array(cleanAbsolute('manifest')).max(1000).default([]),
    /** Each manifest is embedded up to this many bytes (its full size and sha256 are recorded). Default 32 MiB. */
    maxManifestBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * MIB)
      .default(32 * MIB),
    commands: z.array(dependencyCommandSchema).max(100).default([]),
  })
  .refine(
    (d) => new Set(d.commands.map((c) => c.name)).size === d.commands.length,
    'command names must be unique',
  );

export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type DependencyCommand = z.infer<typeof dependencyCommandSchema>;
export type DependenciesConfig = z.infer<typeof dependenciesSchema>;
