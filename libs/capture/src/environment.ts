import { isSecretName } from '@fleet-backup/core';

/**
 * The format of `environment.config` (and of `environment.secrets.config`), version 1:
 *
 *   # fleet-backup environment v1: …
 *   APP_MODE=production
 *   APP_MOTD=line one\nline two
 *
 * One `NAME=value` per line after the comment line, sorted by name (code-unit order), UTF-8. The
 * name ends at the first `=`. In a value, `\\` is a backslash, `\n` a newline and `\r` a
 * carriage return; every other character stands for itself, so a value never spans two lines.
 * Nothing time-dependent is written: the same environment gives the same bytes (and deduplicates).
 */
export const ENVIRONMENT_HEADER =
  '# fleet-backup environment v1: one NAME=value per line, sorted by name; in a value \\\\ is a backslash, \\n a newline, \\r a carriage return\n';

/**
 * The agent's own key material is never captured, whatever the allowlist: a backup holding the
 * key that decrypts it protects nothing (libs/config/src/encryption.ts reads these).
 */
const NEVER_CAPTURED = new Set(['ENCRYPTION_KEY', 'ENCRYPTION_KEY_FILE', 'ENCRYPTION_OLD_KEYS']);

/** Only portable names are captured: anything else could not be written back by a shell. */
const PORTABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A URL carrying a password (`postgres://user:pw@db/app`) is a secret whatever its variable is
 * called: DATABASE_URL matches no secret pattern, yet its value is a credential.
 */
const URL_WITH_PASSWORD = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/;

export interface EnvironmentCapture {
  /** The non-secret document: always present (holding only the header when nothing matched). */
  plain: string;
  /** The secret document, or null when no captured variable is secret. */
  secret: string | null;
  /** Captured names (never values), for logs and `plan`. */
  names: string[];
  secretNames: string[];
}

/**
 * Splits the variables whose names an allow glob matches into the plain and the secret document;
 * a variable is secret when its name matches a secret pattern or its value is a URL with a password.
 */
export function captureEnvironment(
  vars: Record<string, string | undefined>,
  allow: readonly string[],
  secretPatterns: readonly string[],
): EnvironmentCapture {
  const allowed = allow.map(nameGlob);
  const names = Object.keys(vars)
    .filter(
      (n) =>
        PORTABLE_NAME.test(n) &&
        !NEVER_CAPTURED.has(n) &&
        vars[n] !== undefined &&
        allowed.some((g) => g.test(n)),
    )
    .sort();
  const plain: string[] = [];
  const secret: string[] = [];
  for (const name of names) {
    const value = vars[name] ?? '';
    const isSecret = isSecretName(name, secretPatterns) || URL_WITH_PASSWORD.test(value);
    (isSecret ? secret : plain).push(name);
  }
  const render = (list: string[]) =>
    ENVIRONMENT_HEADER + list.map((n) => `${n}=${escapeValue(vars[n] ?? '')}\n`).join('');
  return {
    plain: render(plain),
    secret: secret.length ? render(secret) : null,
    names: plain,
    secretNames: secret,
  };
}

/** Escapes a value onto one line; see the format above. */
export function escapeValue(value: string): string {
  return value.replace(/[\\\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\r'));
}

/** A whole-name, case-sensitive glob: `*` any run, `?` one character (the config allows no other syntax). */
function nameGlob(pattern: string): RegExp {
  const body = pattern.replace(/[*?]|[^*?]+/g, (part) =>
    part === '*' ? '.*' : part === '?' ? '.' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  );
  return new RegExp(`^${body}$`);
}
