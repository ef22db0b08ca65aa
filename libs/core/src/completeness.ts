import path from 'node:path';
import { escape as escapeGlob, Minimatch } from 'minimatch';
import { isInside } from './paths.ts';

/** A configured source as far as completeness is concerned: its path and its required globs. */
export interface RequiringSource {
  path: string;
  /** Globs relative to `path` (no leading `/`) or absolute. */
  required?: string[];
}

/** One required glob, made absolute for people (`/srv/app/app.db`) and compiled for matching. */
interface RequiredGlob {
  shown: string;
  matcher: Minimatch;
}

// dot: `.env` is as much a required file as any other.
const OPTIONS = { dot: true } as const;

/**
 * The required globs that match none of a snapshot's files, each shown absolute. A source's
 * globs apply only when a requested path covers the whole source (the path itself or a folder
 * above it): a backup of one subfolder (say, before a change) never meant to take the rest.
 * A required file that exists but was not stored (excluded, vanished, unreadable) is missing
 * all the same: what counts is what the backup holds.
 */
export function missingRequired(
  requestedPaths: string[],
  sources: RequiringSource[],
  storedFiles: string[],
): string[] {
  const globs = sources
    .filter((s) => s.required?.length && requestedPaths.some((p) => isInside(s.path, p)))
    .flatMap((s) => (s.required ?? []).map((g) => compile(s.path, g)));
  return globs.filter((g) => !storedFiles.some((f) => g.matcher.match(f))).map((g) => g.shown);
}

function compile(source: string, glob: string): RequiredGlob {
  if (glob.startsWith('/')) return { shown: glob, matcher: new Minimatch(glob, OPTIONS) };
  // The source path is literal text, not a pattern: a `[` in a folder name must match itself.
  const base = source === '/' ? '' : escapeGlob(source);
  return { shown: path.posix.join(source, glob), matcher: new Minimatch(`${base}/${glob}`, OPTIONS) };
}

/** What a snapshot holds, by count and size. */
export interface SnapshotSize {
  files: number;
  bytes: number;
}

/** One measure before and after, and how far it fell (0 when it did not). */
export interface DropFigure {
  before: number;
  after: number;
  /** The fall in percent of `before`, rounded to one decimal. */
  percent: number;
}

/** A backup much smaller than the previous one of the same sources: the figures that flagged it. */
export interface SharpDrop {
  previous: { id: string; key: string };
  /** The threshold in force when it was flagged, in percent. */
  threshold: number;
  files: DropFigure;
  bytes: DropFigure;
}

/**
 * Whether the file count or the total bytes fell by more than `thresholdPercent` since the
 * previous snapshot; null when neither did (or there was nothing before to fall from).
 */
export function sharpDrop(
  current: SnapshotSize,
  previous: SnapshotSize,
  thresholdPercent: number,
): Omit<SharpDrop, 'previous'> | null {
  const files = figure(previous.files, current.files);
  const bytes = figure(previous.bytes, current.bytes);
  const beyond = (f: { fall: number }) => f.fall > thresholdPercent;
  if (!beyond(files) && !beyond(bytes)) return null;
  return { threshold: thresholdPercent, files: files.shown, bytes: bytes.shown };
}

function figure(before: number, after: number): { fall: number; shown: DropFigure } {
  const fall = before > 0 && after < before ? ((before - after) / before) * 100 : 0;
  return { fall, shown: { before, after, percent: Math.round(fall * 10) / 10 } };
}

/** The drop in one line for logs and people: `files 10 -> 4 (-60%), bytes 1000 -> 400 (-60%) since KEY`. */
export function describeDrop(drop: SharpDrop): string {
  const part = (name: string, f: DropFigure) => `${name} ${f.before} -> ${f.after} (-${f.percent}%)`;
  return `${part('files', drop.files)}, ${part('bytes', drop.bytes)} since ${drop.previous.key} (threshold ${drop.threshold}%)`;
}

/**
 * A backup in which much of what the previous one of the same sources held is no longer there
 * as it was: changed in place, or gone (renamed, deleted). Ransomware that encrypts files keeps
 * their count and sizes, so the sharp-drop check cannot see it; this does.
 */
export interface MassChange {
  previous: { id: string; key: string };
  /** The threshold in force when it was flagged, in percent. */
  threshold: number;
  /** Files of the previous backup. */
  before: number;
  /** How many of them the new backup does not hold with the same content at the same path. */
  changed: number;
  /** changed / before in percent, rounded to one decimal. */
  percent: number;
}

/** Whether more than `thresholdPercent` of the previous backup's files changed or went; null when not. */
export function massChange(
  figures: { before: number; changed: number },
  thresholdPercent: number,
): Omit<MassChange, 'previous'> | null {
  const { before, changed } = figures;
  const share = before > 0 ? (changed / before) * 100 : 0;
  if (share <= thresholdPercent) return null;
  return { threshold: thresholdPercent, before, changed, percent: Math.round(share * 10) / 10 };
}

/** The change in one line for logs and people: `7 of 10 files (70%) changed or gone since KEY`. */
export function describeMassChange(change: MassChange): string {
  return `${change.changed} of ${change.before} files (${change.percent}%) changed or gone since ${change.previous.key} (threshold ${change.threshold}%)`;
}
