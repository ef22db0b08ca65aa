import { colorEnabled, displayWidth, paint } from './style.ts';

/**
 * The CLI's one table renderer: columns aligned by terminal width (wide CJK and emoji count two
 * columns, combining marks none, color codes nothing), two spaces apart, no trailing blanks.
 * Cells may carry color (see `statusCell`); the header is bold where color is on.
 */
export function table(header: string[], rows: string[][], color = colorEnabled()): string {
  const widths = header.map((h, i) =>
    Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(c))))
      .join('  ')
      .trimEnd();
  const head = line(header);
  return [paint(head, 'bold', color), ...rows.map(line)].join('\n');
}
