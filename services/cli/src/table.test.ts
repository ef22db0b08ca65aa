import { describe, expect, it } from 'vitest';
import { colorEnabled, displayWidth, paint, statusCell, statusTone, stripAnsi } from './style.ts';
import { table } from './table.ts';

describe('table', () => {
  it('aligns columns two spaces apart without trailing blanks', () => {
    expect(
      table(
        ['ID', 'STATUS'],
        [
          ['a', 'verified'],
          ['bbbb', 'failed'],
        ],
        false,
      ),
    ).toBe(['ID    STATUS', 'a     verified', 'bbbb  failed'].join('\n'));
  });

  it('measures wide, combining and emoji characters as a terminal shows them', () => {
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('ünïcødé')).toBe(7);
    expect(displayWidth('e\u0301')).toBe(1); // e + combining acute
    expect(displayWidth('✓')).toBe(1);
    expect(displayWidth('📦')).toBe(2);
    expect(displayWidth('👩‍💻')).toBe(2); // one grapheme through a zero-width joiner
    const out = table(
      ['PATH', 'SIZE'],
      [
        ['日本/文書.txt', '1'],
        ['plain.txt', '22'],
      ],
      false,
    ).split('\n');
    // The SIZE column starts at the same terminal column on every line.
    const column = out.map((l) => displayWidth(l.slice(0, l.search(/\d+$|SIZE$/))));
    expect(new Set(column).size).toBe(1);
  });

  it('aligns colored cells by their visible text', () => {
    const rows = [
      [statusCell('verified', true), 'x'],
      [statusCell('failed', true), 'y'],
    ];
    const out = table(['STATUS', 'NEXT'], rows, true);
    expect(out).toContain('\x1b[32mverified\x1b[39m');
    expect(out).toContain('\x1b[31mfailed\x1b[39m');
    expect(stripAnsi(out)).toBe(['STATUS    NEXT', 'verified  x', 'failed    y'].join('\n'));
  });

  it('is plain without color, header included', () => {
    const out = table(['STATUS'], [[statusCell('verified', false)]], false);
    expect(out).not.toContain('\x1b');
  });
});

describe('colors', () => {
  it('colors statuses: verified green, failed and corrupt red, unverified and incomplete yellow', () => {
    expect(statusTone('verified')).toBe('green');
    expect(statusTone('done')).toBe('green');
    expect(statusTone('failed')).toBe('red');
    expect(statusTone('corrupt')).toBe('red');
    expect(statusTone('unverified')).toBe('yellow');
    expect(statusTone('incomplete')).toBe('yellow');
    expect(statusTone('running')).toBeNull();
    expect(paint('x', 'yellow', true)).toBe('\x1b[33mx\x1b[39m');
    expect(paint('x', 'yellow', false)).toBe('x');
  });

  it('only on a terminal, and never with NO_COLOR set to anything non-empty', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({}, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: 'false' })).toBe(false);
    // The spec: an empty NO_COLOR does not count.
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });
});
