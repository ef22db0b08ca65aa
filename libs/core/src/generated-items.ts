/**
 * The items an agent generates at the top of a backup (libs/config system state), by metadata
 * path: they describe the host, they are not files of it. A restore leaves them out of the
 * restored tree unless they are asked for by name, and above all never writes the secrets one
 * out in the clear on its own. Keyed on the metadata path, not the stored path, so a change of
 * suffix scheme cannot make one slip through.
 */
export const GENERATED_ITEMS: readonly string[] = [
  'environment.config',
  'environment.secrets.config',
  'dependencies.config',
];

/** True for the metadata path (no leading slash) of an item the agent generated. */
export function isGeneratedItem(metadataPath: string): boolean {
  return GENERATED_ITEMS.includes(metadataPath.replace(/^\/+/, ''));
}
