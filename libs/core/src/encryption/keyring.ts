import { inspect } from 'node:util';
import { BadInputError } from '../errors.ts';

/** A key id: short, printable, safe in a file header, a log line and a manifest. */
export const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

const KEY_BYTES = 32;
// Standard base64 of exactly 32 bytes: 43 characters and one `=` of padding.
const KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/** One configured key: an id and its 32 secret bytes, as parsed from `<keyId>:<base64>`. */
export interface KeySpec {
  id: string;
  key: Buffer;
}

/**
 * Parses `<keyId>:<base64 of 32 bytes>`. Errors name `origin` (the variable or file) and what is
 * wrong, never the key itself: a mistyped key must not end up in a log through its error.
 */
export function parseKeySpec(spec: string, origin: string): KeySpec {
  const colon = spec.indexOf(':');
  if (colon < 0) throw new BadInputError(`${origin}: expected <keyId>:<base64 of 32 bytes>, found no ':'`);
  const id = spec.slice(0, colon).trim();
  const encoded = spec.slice(colon + 1).trim();
  if (!KEY_ID.test(id)) {
    throw new BadInputError(
      `${origin}: key id must be 1-32 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (!KEY_BASE64.test(encoded)) {
    const bytes = Buffer.from(encoded, 'base64').length;
    throw new BadInputError(
      `${origin}: key ${id} must be standard base64 of exactly ${KEY_BYTES} bytes (44 characters ending in '='), got ${encoded.length} characters (~${bytes} bytes); make one with: openssl rand -base64 32`,
    );
  }
  return { id, key: Buffer.from(encoded, 'base64') };
}

/**
 * The encryption keys of an installation: the current one (new backups are encrypted with it)
 * and older ones kept so that backups made before a rotation still restore. The key bytes stay
 * in a private field and every way of printing a keyring (JSON for pino, util.inspect for
 * console.log) shows only the ids.
 */
export class Keyring {
  readonly #keys = new Map<string, Buffer>();
  /** The id new sensitive files are encrypted with; null when no key is configured. */
  readonly currentId: string | null;

  constructor(current: KeySpec | null, older: KeySpec[] = []) {
    this.currentId = current?.id ?? null;
    for (const k of current ? [current, ...older] : older) {
      const known = this.#keys.get(k.id);
      if (known && !known.equals(k.key))
        throw new BadInputError(`encryption key id ${k.id} is configured twice with different keys`);
      this.#keys.set(k.id, k.key);
    }
  }

  /** Every id this keyring can decrypt. */
  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /** The key bytes for an id; only the encryption format reads them. */
  keyFor(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  toJSON(): { currentId: string | null; ids: string[] } {
    return { currentId: this.currentId, ids: this.ids };
  }

  [inspect.custom](): string {
    return `Keyring ${JSON.stringify(this.toJSON())}`;
  }
}

/** A keyring with no keys: sensitive files are then skipped, never stored in the clear. */
export const NO_KEYS = new Keyring(null);
