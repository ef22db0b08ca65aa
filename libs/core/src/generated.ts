/**
 * The items an agent generates itself rather than copying from the host: system state written at
 * the top of a backup, under these metadata paths and stored under these same names.
 */
export const GENERATED_ITEMS = [
  'environment.config',
  'environment.secrets.config',
  'dependencies.config',
] as const;

export type GeneratedItem = (typeof GENERATED_ITEMS)[number];

const NAMES: ReadonlySet<string> = new Set(GENERATED_ITEMS);

/**
 * True when a backup entry is one of the generated items (`environment.config`,
 * `environment.secrets.config`, `dependencies.config`), given its metadata path (as in
 * backup_metadata.json, no leading `/`) or its absolute form. Restore skips these unless asked for
 * by name: they describe the host, they are not files to put back in the restored tree, and above
 * all the secrets one is never written out in the clear on its own. Keyed on the metadata path, not
 * the stored path, so a change of suffix scheme cannot make one slip through.
 */
export function isGeneratedItem(path: string): boolean {
  return NAMES.has(path.replace(/^\/+/, ''));
}
