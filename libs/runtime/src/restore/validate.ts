import { type FileAttributes, NAME_MAX, PermanentFailure } from '@fleet-backup/core';
import { componentsOf, pathBytesOf, type RestoreFile, type RestoreNode, type RestoreSet } from './model.ts';

/**
 * A restore refused before anything was written: the list of files is not safe to write out.
 * The copy is at fault, not the command (exit 1, like a copy whose bytes do not match).
 */
export class UnsafeRestoreSet extends PermanentFailure {
  readonly problems: string[];
  constructor(where: string, problems: string[]) {
    const shown = problems.slice(0, 10).join('; ');
    const more = problems.length > 10 ? `; … and ${problems.length - 10} more` : '';
    super(
      `refusing to restore ${where}: ${problems.length} problem(s) in its list of files, so nothing was written: ${shown}${more}. ` +
        'A copy that says this is crafted or corrupt: restore from another copy',
      { where, problems },
    );
    this.problems = problems;
  }
}

const SHA256 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const MTIME_NS = /^-?\d{1,20}$/;
const XATTR_NAME = /^[a-z]+\.[^/]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** PATH_MAX on Linux, with room for the terminating NUL. */
const PATH_MAX = 4095;
const MAX_ID = 2 ** 32 - 2;

type Entry = { kind: 'file' | 'dir' | 'symlink'; path: string };

/**
 * The one check every restore passes before it writes anything, whether its list came from a
 * target's manifest (untrusted: anyone with write access to the bucket could have crafted it)
 * or from the catalog's rows: every path relative, clean, well-formed and named once (also once
 * Unicode-normalised), nothing beneath a file or a symlink, one entry per stored path, sizes,
 * hashes, keys and attributes well-formed. Throws UnsafeRestoreSet listing every problem.
 */
export function assertSafeRestoreSet(set: RestoreSet, where: string): void {
  const problems: string[] = [];
  const entries = new Map<string, Entry>();
  const normalised = new Map<string, string>();
  const stored = new Set<string>();
  const add = (e: { path: string; pathBytes?: Buffer | null }, kind: Entry['kind']) => {
    const problem = pathProblem(e);
    if (problem) return problems.push(`${JSON.stringify(e.path)}: ${problem}`);
    const key = pathBytesOf(e).toString('latin1');
    const same = entries.get(key);
    if (same) return problems.push(collision(same, { kind, path: e.path }));
    entries.set(key, { kind, path: e.path });
    if (e.pathBytes) return;
    const nfc = e.path.normalize('NFC');
    const twin = normalised.get(nfc);
    if (twin !== undefined) {
      problems.push(
        `${JSON.stringify(twin)} and ${JSON.stringify(e.path)} are one name once Unicode-normalised (NFC)`,
      );
    }
    normalised.set(nfc, e.path);
  };
  for (const f of set.files) {
    add(f, 'file');
    problems.push(...fileProblems(f, stored));
  }
  for (const n of set.nodes) {
    add(n, n.type === 'symlink' ? 'symlink' : 'dir');
    problems.push(...nodeProblems(n));
  }
  problems.push(...beneathProblems(entries));
  if (problems.length) throw new UnsafeRestoreSet(where, problems);
}

/** Why a path cannot be written under the restore directory as it stands, or null. */
function pathProblem(e: { path: string; pathBytes?: Buffer | null }): string | null {
  if (!e.path.isWellFormed()) return 'not well-formed Unicode (a lone surrogate)';
  if (e.path.includes('\0')) return 'holds a NUL byte';
  const bytes = pathBytesOf(e);
  if (bytes.length === 0) return 'empty path';
  if (bytes[0] === 0x2f) return 'absolute path (it must be relative to the restore directory)';
  if (bytes.length > PATH_MAX) return `longer than ${PATH_MAX} bytes`;
  for (const part of componentsOf(bytes)) {
    const name = part.toString('latin1');
    if (name === '') return 'an empty component ("//" or a trailing "/")';
    if (name === '.' || name === '..') return `a "${name}" component`;
    if (part.includes(0)) return 'holds a NUL byte';
    if (part.length > NAME_MAX) return `a component longer than ${NAME_MAX} bytes`;
    // A control character in a name is legal on Linux, but only raw bytes may carry one: in a
    // plain path it is more likely a forged entry (a newline splitting a log line, an escape).
    if (!e.pathBytes && hasControl(name))
      return 'a control character (only a raw path, pathBytes, may hold one)';
  }
  return null;
}

function collision(first: Entry, second: Entry): string {
  const what = (e: Entry) => (e.kind === 'file' ? 'a file' : e.kind === 'dir' ? 'a directory' : 'a symlink');
  if (first.kind === 'file' && second.kind === 'file')
    return `two entries for ${JSON.stringify(second.path)} (the second would overwrite the first)`;
  return `${JSON.stringify(second.path)} is listed both as ${what(first)} and as ${what(second)}`;
}

/** Nothing may lie beneath a file or a symlink: writing it would mean writing through one. */
function beneathProblems(entries: Map<string, Entry>): string[] {
  const problems: string[] = [];
  for (const [key, entry] of entries) {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      const above = entries.get(key.slice(0, i));
      if (above && above.kind !== 'dir') {
        problems.push(
          `${JSON.stringify(entry.path)} lies beneath ${JSON.stringify(above.path)}, which is a ${above.kind}`,
        );
        break;
      }
    }
  }
  return problems;
}

function fileProblems(f: RestoreFile, stored: Set<string>): string[] {
  const problems: string[] = [];
  const name = JSON.stringify(f.path);
  if (!isSize(f.size)) problems.push(`${name}: size ${JSON.stringify(f.size)} is not a byte count`);
  if (!SHA256.test(f.sha256)) problems.push(`${name}: sha256 is not 64 lowercase hex digits`);
  const e = f.encrypted;
  if (e && (!SHA256.test(e.sha256) || !isSize(e.size) || !KEY_ID.test(e.keyId)))
    problems.push(`${name}: its encrypted form (blob sha256, size, key id) is malformed`);
  const storedProblem = storedPathProblem(f.storedPath);
  if (storedProblem) problems.push(`${name}: stored path ${JSON.stringify(f.storedPath)} ${storedProblem}`);
  else if (stored.has(f.storedPath))
    problems.push(`${name}: stored path ${JSON.stringify(f.storedPath)} is claimed by two entries`);
  stored.add(f.storedPath);
  if (f.attrs) problems.push(...attrsProblems(name, f.attrs));
  return problems;
}

/** A stored path is read from BACKUP_ROOT/<key>: it must stay inside it. */
function storedPathProblem(p: string): string | null {
  if (typeof p !== 'string' || p === '') return 'is empty';
  if (p.includes('\0')) return 'holds a NUL byte';
  if (p.startsWith('/')) return 'is absolute';
  if (p.split('/').some((c) => c === '' || c === '.' || c === '..'))
    return 'has an empty, "." or ".." component';
  return null;
}

function nodeProblems(n: RestoreNode): string[] {
  const name = JSON.stringify(n.path);
  const problems: string[] = [];
  if (n.type !== 'dir' && n.type !== 'symlink')
    problems.push(`${name}: unknown type ${JSON.stringify(n.type)}`);
  const target = n.targetBytes ?? (n.target === null ? null : Buffer.from(n.target, 'utf8'));
  if (n.type === 'symlink') {
    if (!target?.length) problems.push(`${name}: a symlink without a target`);
    else if (target.includes(0)) problems.push(`${name}: its symlink target holds a NUL byte`);
    else if (target.length > PATH_MAX)
      problems.push(`${name}: its symlink target is longer than ${PATH_MAX} bytes`);
  } else if (target) problems.push(`${name}: a directory with a symlink target`);
  if (!n.attrs) problems.push(`${name}: no attributes`);
  else problems.push(...attrsProblems(name, n.attrs));
  return problems;
}

function attrsProblems(name: string, a: FileAttributes): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(a.mode) || a.mode < 0 || a.mode > 0o7777)
    problems.push(`${name}: mode is not 0-07777`);
  for (const id of [a.uid, a.gid]) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_ID)
      problems.push(`${name}: uid/gid ${id} is not a 32-bit id`);
  }
  for (const n of [a.owner, a.group]) {
    if (n !== null && (typeof n !== 'string' || n === '' || hasControl(n)))
      problems.push(`${name}: owner/group name ${JSON.stringify(n)} is malformed`);
  }
  if (!MTIME_NS.test(String(a.mtimeNs))) problems.push(`${name}: mtime is not a count of nanoseconds`);
  for (const [key, value] of Object.entries(a.xattrs ?? {})) {
    if (
      !XATTR_NAME.test(key) ||
      Buffer.byteLength(key) > 255 ||
      typeof value !== 'string' ||
      !BASE64.test(value)
    )
      problems.push(`${name}: extended attribute ${JSON.stringify(key)} is malformed`);
  }
  return problems;
}

/** NUL, another C0 control character, or DEL. */
function hasControl(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f');
}

function isSize(n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}
