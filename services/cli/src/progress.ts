import { MultiBar } from 'cli-progress';
import { colorEnabled, displayWidth, paint } from './style.ts';

/** Where long work stands: what `backup --wait`, `restore` and `drill` report as they go. */
export interface ProgressState {
  /** What is happening now, for people: `hash running`, a file's path, `verified`. */
  stage: string;
  /** Work done of total, in `unit`: bytes copied, files, or steps of a pipeline. Total 0: not known yet. */
  done: number;
  total: number;
  unit: 'bytes' | 'files' | 'steps';
  /** Files done of total, once known. */
  files?: { done: number; total: number };
  /** With steps or files: the bytes the work covers, once known (a backup's, after its snapshot). */
  size?: number;
  /** Copies verified of those wanted (a backup's local copy and targets). */
  copies?: { done: number; total: number };
  /** The work went wrong: the bar turns red. */
  failed?: boolean;
}

export interface Progress {
  update(state: ProgressState): void;
  /** A message that must not tear the bar (a fallback to another copy): printed above it. */
  note(line: string): void;
  /** Draws the last state, if given, and ends the bar; safe to call twice. */
  finish(state?: ProgressState): void;
}

export interface ProgressOptions {
  /** `--json`: machines get the final JSON document and nothing else. */
  json?: boolean;
  /** Default stderr: stdout stays the result, so `ID=$(fleet-backup backup --wait)` still works. */
  stream?: NodeJS.WriteStream;
  /** Without a terminal: at most one line this often, besides stage changes and the last. */
  lineEveryMs?: number;
}

/**
 * Progress for long work, for people and for logs: a bar with bytes and files on a terminal,
 * plain lines otherwise (CI logs, `2> file`), nothing with `--json`.
 */
export function startProgress(title: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  // Notes are warnings, not progress: machines reading stdout still see them on stderr.
  if (opts.json) return { update() {}, note: (line) => stream.write(`${line}\n`), finish() {} };
  if (stream.isTTY) return barProgress(title, stream, colorEnabled(stream));
  return lineProgress(title, stream, opts.lineEveryMs ?? 5_000);
}

function barProgress(title: string, stream: NodeJS.WriteStream, color: boolean): Progress {
  const started = Date.now();
  let ended = false;
  const bars = new MultiBar({
    stream,
    fps: 8,
    hideCursor: false,
    // Our own line: cli-progress draws it, redraws it in place and keeps it after the end.
    format: (_options, params, payload: { state?: ProgressState }) =>
      payload.state
        ? formatBar(title, payload.state, {
            color,
            elapsedMs: Date.now() - started,
            width: params.maxWidth,
            // The last draw happens with line wrapping back on, when cli-progress cuts the line
            // at `width` UTF-16 units, color codes included.
            countEscapes: ended,
          })
        : title,
  });
  const bar = bars.create(1, 0, {});
  const update = (state: ProgressState) => {
    if (ended) return;
    bar.setTotal(Math.max(1, state.total));
    bar.update(state.done, { state });
  };
  return {
    update,
    note: (line) => (ended ? stream.write(`${line}\n`) : bars.log(`${line}\n`)),
    finish(state) {
      if (ended) return;
      if (state) update(state);
      ended = true;
      bars.stop();
    },
  };
}

function lineProgress(title: string, stream: NodeJS.WriteStream, everyMs: number): Progress {
  let last: { line: string; stage: string; at: number } | null = null;
  let latest: ProgressState | null = null;
  let ended = false;
  const print = (state: ProgressState) => {
    const line = formatLine(title, state);
    if (line !== last?.line) stream.write(`${line}\n`);
    last = { line, stage: state.stage, at: Date.now() };
  };
  return {
    update(state) {
      if (ended) return;
      latest = state;
      if (!last || state.stage !== last.stage || Date.now() - last.at >= everyMs) print(state);
    },
    note: (line) => stream.write(`${line}\n`),
    finish(state) {
      if (ended) return;
      ended = true;
      const final = state ?? latest;
      if (final) print(final);
    },
  };
}

const BAR_WIDTH = 24;
// The bar shrinks to this on a narrow terminal before the stage text goes.
const MIN_BAR_WIDTH = 8;
const MIN_STAGE_WIDTH = 16;

/**
 * The bar line: `restore ██████░░░░ 45% | 9.0 MiB / 20.0 MiB | 3/7 files | 40.0 MiB/s | etc/app.yaml`,
 * fitted to `width` columns: the bar shrinks first, then the stage text is shortened or left out.
 */
export function formatBar(
  title: string,
  s: ProgressState,
  opts: { color: boolean; elapsedMs?: number; width?: number; countEscapes?: boolean },
): string {
  const width = opts.width ?? Number.POSITIVE_INFINITY;
  const ratio = fraction(s);
  const percent = known(s) ? `${String(Math.floor(ratio * 100)).padStart(3)}%` : '  ?%';
  const rate =
    s.unit === 'bytes' && opts.elapsedMs && opts.elapsedMs >= 1000 ? s.done / (opts.elapsedMs / 1000) : 0;
  const rest = [...figures(s), ...(rate > 0 && s.done < s.total ? [`${formatBytes(rate)}/s`] : [])];
  const escapes = (tone: 'green' | 'dim' | 'red') =>
    opts.countEscapes && opts.color ? paint(' ', tone, true).length - 1 : 0;
  const measure = (text: string) =>
    opts.countEscapes ? Math.max(displayWidth(text), text.length) : displayWidth(text);
  const fixed = measure(`${title}  ${percent} | ${rest.join(' | ')}`) + escapes('green') + escapes('dim');
  const barWidth = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, width - fixed - 3 - MIN_STAGE_WIDTH));
  const filled = Math.floor(ratio * barWidth);
  const bar =
    paint('█'.repeat(filled), s.failed ? 'red' : 'green', opts.color) +
    paint('░'.repeat(barWidth - filled), 'dim', opts.color);
  const head = [`${title} ${bar} ${percent}`, ...rest].join(' | ');
  const room = width - measure(head) - 3 - (s.failed ? escapes('red') : 0);
  if (!s.stage || room < MIN_BAR_WIDTH) return head;
  const stage = fits(s.stage, room) ? s.stage : ellipsize(s.stage, room);
  return `${head} | ${s.failed ? paint(stage, 'red', opts.color) : stage}`;
}

/** The plain line: `restore: 45% 9.0 MiB / 20.0 MiB, 3/7 files, etc/app.yaml`. */
export function formatLine(title: string, s: ProgressState): string {
  const percent = known(s) ? `${Math.floor(fraction(s) * 100)}%` : '?%';
  return `${title}: ${percent} ${[...figures(s), s.stage].filter(Boolean).join(', ')}`;
}

/** Amount, files and size as people read them; nothing that is not known yet. */
function figures(s: ProgressState): string[] {
  const out: string[] = [];
  if (s.unit === 'bytes') out.push(`${formatBytes(s.done)} / ${formatBytes(s.total)}`);
  else out.push(`${s.done}/${s.total || '?'} ${s.unit}`);
  if (s.files)
    out.push(s.unit === 'bytes' ? `${s.files.done}/${s.files.total} files` : `${s.files.total} files`);
  if (s.unit !== 'bytes' && s.size !== undefined) out.push(formatBytes(s.size));
  if (s.copies) out.push(`${s.copies.done}/${s.copies.total} copies`);
  return out;
}

/** Done as a share of the work; by files when the work has no bytes (only empty files). */
function fraction(s: ProgressState): number {
  const [done, total] = s.total > 0 ? [s.done, s.total] : [s.files?.done ?? 0, s.files?.total ?? 0];
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
}

function known(s: ProgressState): boolean {
  return s.total > 0 || (s.unit === 'bytes' && (s.files?.total ?? 0) > 0);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → `1.5 KiB`; bytes below 1 KiB as they are. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function fits(text: string, width: number): boolean {
  return displayWidth(text) <= width && text.length <= width;
}

/** Keeps the end of a long path, where its name is: `…/deeper/leaf.json`. */
function ellipsize(text: string, width: number): string {
  const chars = [...text];
  let out = '';
  for (let i = chars.length - 1; i >= 0 && fits(`…${chars[i]}${out}`, width); i--) out = chars[i] + out;
  return `…${out}`;
}
