import { z } from 'zod';
import type { FileClass } from './classify.ts';
import type { BackupKind } from './kinds.ts';

/**
 * The seed's `backup_metadata.json` format, exactly. These schemas are strict: an extra or a
 * missing field is a defect, because other tools read this file.
 */
const isoUtc = z.iso.datetime();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

const fileEntry = z.strictObject({
  size: z.number().int().nonnegative(),
  hash: sha256Hex,
  /** Present on database files only. */
  has_wal: z.boolean().optional(),
});

export const dailyEntrySchema = z.strictObject({
  created: isoUtc,
  expires: isoUtc,
  files: z.record(z.string(), fileEntry),
  status: z.enum(['active', 'expired', 'verified']),
  verified: z.boolean(),
});

export const preChangeEntrySchema = z.strictObject({
  created: isoUtc,
  description: z.string(),
  status: z.enum(['pending_verification', 'verified', 'retired']),
  files: z.record(z.string(), fileEntry),
  change_ticket: z.string().nullable(),
  retention: z.string(),
  verified_by: z.string().nullable(),
  verified_date: isoUtc.nullable(),
});

export const manualEntrySchema = z.strictObject({
  created: isoUtc,
  creator: z.string(),
  purpose: z.string(),
  files: z.record(z.string(), fileEntry),
  retention: z.string(),
  notes: z.string(),
});

export const hostMetadataSchema = z.strictObject({
  daily: z.record(z.string().regex(/^\d{8}$/), dailyEntrySchema),
  pre_change: z.record(z.string().regex(/^\d{8}_\d{4}_.+$/), preChangeEntrySchema),
  manual: z.record(z.string().regex(/^\d{8}_\d{4}_.+$/), manualEntrySchema),
});
export type HostMetadata = z.infer<typeof hostMetadataSchema>;

export const fleetMetadataSchema = z.strictObject({ hosts: z.record(z.string(), hostMetadataSchema) });
export type FleetMetadata = z.infer<typeof fleetMetadataSchema>;

export type MetadataEntry =
  | z.infer<typeof dailyEntrySchema>
  | z.infer<typeof preChangeEntrySchema>
  | z.infer<typeof manualEntrySchema>;

/** The seed's section name for each kind. */
export const SECTION: Record<BackupKind, keyof HostMetadata> = {
  daily: 'daily',
  pre_change: 'pre_change',
  manual: 'manual',
};

export interface EntryFile {
  path: string;
  size: number;
  sha256: string;
  cls: FileClass;
  hasWal: boolean | null;
}

export interface EntryInput {
  kind: BackupKind;
  created: Date;
  expires: Date | null;
  description: string | null;
  purpose: string | null;
  creator: string | null;
  ticket: string | null;
  retention: string | null;
  notes: string | null;
  /** True once every configured copy has verified. */
  verified: boolean;
  /** The seed's own lifecycle status where it differs from verification (expired, retired, change verified). */
  lifecycle: string | null;
  changeVerifiedBy: string | null;
  changeVerifiedAt: Date | null;
  files: EntryFile[];
}

/** Builds a backup's entry in the seed format; the row's JSONB mirror and the exported file use it. */
export function buildEntry(input: EntryInput): MetadataEntry {
  const files = seedFiles(input.files);
  const created = input.created.toISOString();
  switch (input.kind) {
    case 'daily':
      return {
        created,
        expires: (input.expires ?? input.created).toISOString(),
        files,
        // An expiring daily is losing its copies: the seed has no word for that, and `expired` is the honest one.
        status:
          input.lifecycle === 'expired' || input.lifecycle === 'expiring'
            ? 'expired'
            : input.verified
              ? 'verified'
              : 'active',
        verified: input.verified,
      };
    case 'pre_change':
      return {
        created,
        description: input.description ?? '',
        status: preChangeStatus(input.lifecycle),
        files,
        change_ticket: input.ticket,
        retention: input.retention ?? 'until_verified',
        verified_by: input.changeVerifiedBy,
        verified_date: input.changeVerifiedAt?.toISOString() ?? null,
      };
    case 'manual':
      return {
        created,
        creator: input.creator ?? '',
        purpose: input.purpose ?? '',
        files,
        retention: input.retention ?? 'permanent',
        notes: input.notes ?? '',
      };
  }
}

function preChangeStatus(lifecycle: string | null): 'pending_verification' | 'verified' | 'retired' {
  // Only a pre_change whose change is verified is ever retired, so one retiring is still `verified`.
  if (lifecycle === 'retiring') return 'verified';
  return lifecycle === 'verified' || lifecycle === 'retired' ? lifecycle : 'pending_verification';
}

function seedFiles(files: EntryFile[]): Record<string, z.infer<typeof fileEntry>> {
  const out: Record<string, z.infer<typeof fileEntry>> = {};
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    out[f.path] =
      f.cls === 'database'
        ? { size: f.size, hash: f.sha256, has_wal: f.hasWal ?? false }
        : { size: f.size, hash: f.sha256 };
  }
  return out;
}

/** An empty per-host document with the three seed sections. */
export function emptyHostMetadata(): HostMetadata {
  return { daily: {}, pre_change: {}, manual: {} };
}
