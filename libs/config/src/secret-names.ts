/** Names whose values are secrets: tokens, passwords, keys, credentials (not paths to key files). */
const SECRET_NAME = /token|secret|passw|credential|key/i;
const NOT_A_SECRET_NAME = /(file(name)?|path|dir|id)$/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_A_SECRET_NAME.test(name);
}
