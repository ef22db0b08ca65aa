import { z } from 'zod';

export const BACKUP_KINDS = ['daily', 'pre_change', 'manual'] as const;
export const backupKindSchema = z.enum(BACKUP_KINDS);
export type BackupKind = z.infer<typeof backupKindSchema>;

/** `days_N`, `permanent` or `until_verified`, as in the seed. */
export const retentionSchema = z.string().regex(/^(days_[1-9]\d{0,4}|permanent|until_verified)$/, {
  message: 'retention must be days_N, permanent or until_verified',
});
export type Retention = string;

/** Retentions each kind accepts, and its default. */
export const RETENTION_RULES: Record<BackupKind, { allowed: RegExp; fallback: string | null }> = {
  daily: { allowed: /^$/, fallback: null },
  pre_change: { allowed: /^(days_\d+|permanent|until_verified)$/, fallback: 'until_verified' },
  manual: { allowed: /^(days_\d+|permanent)$/, fallback: 'permanent' },
};
