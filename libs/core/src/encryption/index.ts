export { KEY_ID, Keyring, type KeySpec, NO_KEYS, parseKeySpec } from './keyring.ts';
export { DecryptionFailure, decryptStream } from './open.ts';
export { encryptStream, Sealer } from './seal.ts';
