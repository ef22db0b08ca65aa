import { PermanentError } from '../errors.ts';
import { keyProblem } from '../keys.ts';

/**
 * Maps target keys to bucket object names under the target's prefix (`<prefix>/<key>`), so
 * several targets, or several fleets, can share one bucket without seeing each other's objects.
 */
export class ObjectKeys {
  /** The prefix without surrounding slashes; '' when the target owns the bucket root. */
  readonly prefix: string;
  /** What every object name of this target starts with: '' or `<prefix>/`. */
  readonly base: string;

  constructor(prefix: string | undefined, target: string) {
    const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (trimmed !== '') {
      const problem = keyProblem(trimmed);
      if (problem !== undefined) {
        throw new PermanentError(`prefix ${JSON.stringify(prefix)} of target ${target} ${problem}`, {
          target,
        });
      }
    }
    this.prefix = trimmed;
    this.base = trimmed === '' ? '' : `${trimmed}/`;
  }

  /** The bucket object name for a (validated) target key or key prefix. */
  full(key: string): string {
    return this.base + key;
  }

  /** The target key of a bucket object name that `full` produced. */
  relative(name: string): string {
    return name.startsWith(this.base) ? name.slice(this.base.length) : name;
  }
}

/** `http://host:port/path` without user info, query or fragment: safe for messages and `location`. */
export function displayEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return '(invalid endpoint)';
  }
}
