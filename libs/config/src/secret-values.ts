import { isSecretName } from './secret-names.ts';
import { referencedSecrets } from './secret-refs.ts';

// Shorter values (flags, numbers, `true`) would erase innocent text from every line.
const MIN_LENGTH = 6;

type Env = Record<string, string | undefined>;

/**
 * Every secret value the process knows: strings under secret-looking names in the config (API and
 * metrics tokens, passwords), the target credentials it names by reference, passwords inside URLs (DATABASE_URL, target
 * endpoints), and environment variables with secret-looking names (ENCRYPTION_KEY, API_TOKEN,
 * AWS_SECRET_ACCESS_KEY…). The logger removes them from every line, wherever they appear.
 */
export function secretValues(config: unknown, env: Env = process.env): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value.length >= MIN_LENGTH && !/^\d+$/.test(value)) found.add(value);
  };
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (isSecretName(name)) {
      add(value);
      // `<id>:<secret>` values (ENCRYPTION_KEY, user:password pairs): the secret part alone too.
      if (value.includes(':')) add(value.slice(value.lastIndexOf(':') + 1));
    }
    urlSecrets(value).forEach(add);
  }
  walk(config, (name, value) => {
    if (isSecretName(name)) add(value);
    urlSecrets(value).forEach(add);
  });
  // Target credentials the configuration names by reference ({ env } or { file }).
  referencedSecrets(config, env).forEach(add);
  return [...found];
}

/** Calls visit for every string in a JSON-like value with the name of the key holding it. */
function walk(value: unknown, visit: (name: string, value: string) => void, name = ''): void {
  if (typeof value === 'string') visit(name, value);
  else if (Array.isArray(value)) for (const item of value) walk(item, visit, name);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) walk(inner, visit, key);
  }
}

/** The password of a URL, and its query parameters with secret-looking names (also in nested URLs). */
function urlSecrets(text: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return [];
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  if (url.password) out.push(url.password, decodeURIComponent(url.password));
  for (const [key, value] of url.searchParams) {
    if (isSecretName(key)) out.push(value);
    out.push(...urlSecrets(value));
  }
  return out;
}

/**
 * Replaces every secret in a serialized log line, in the forms it can take there: as is,
 * JSON-escaped, and percent-encoded (inside a URL).
 */
export function secretScrubber(secrets: readonly string[]): (line: string) => string {
  const forms = [
    ...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)])),
  ].sort((a, b) => b.length - a.length);
  if (forms.length === 0) return (line) => line;
  return (line) => {
    let out = line;
    for (const form of forms) if (out.includes(form)) out = out.split(form).join('[redacted]');
    return out;
  };
}
