import { visit } from 'jsonc-parser';

/**
 * The first key that appears twice in one JSON object of `text`, with the path of that object,
 * or null. JSON.parse keeps the last of two equal keys without a word, so a crafted manifest
 * could carry two entries for one stored path and show only one: that must be refused, not
 * resolved silently. `text` must already be valid JSON (this only looks for duplicates).
 */
export function firstDuplicateKey(text: string): { key: string; at: string } | null {
  const open: { keys: Set<string>; at: string }[] = [];
  let found: { key: string; at: string } | null = null;
  visit(text, {
    onObjectBegin: (_offset, _length, _line, _column, pathSupplier) => {
      open.push({ keys: new Set(), at: pathSupplier().join('.') || '(top)' });
    },
    onObjectEnd: () => {
      open.pop();
    },
    onObjectProperty: (property) => {
      const current = open[open.length - 1];
      if (!current || found) return;
      if (current.keys.has(property)) found = { key: property, at: current.at };
      current.keys.add(property);
    },
  });
  return found;
}
