import { z } from 'zod';
import { hostIdSchema } from './ids.ts';
import { backupKindSchema, RETENTION_RULES, retentionSchema } from './kinds.ts';
import { freeText, lineText, requestPathSchema, requestPathsSchema } from './text.ts';

/**
 * Set when a pre_change token asked: its name and path prefixes. The agent stores only entries
 * whose real path (after every symlink) lies under one of them, so a symlink inside an allowed
 * tree cannot carry a backup outside the token's reach.
 */
export const requestScopeSchema = z.strictObject({
  token: lineText(200),
  pathPrefixes: z.array(requestPathSchema).min(1).max(1000),
});
export type RequestScope = z.infer<typeof requestScopeSchema>;

/** What a caller asks for; validated at every boundary (CLI, API, job payload). */
export const backupRequestSchema = z
  .strictObject({
    host: hostIdSchema,
    kind: backupKindSchema,
    paths: requestPathsSchema,
    description: lineText(200).optional(),
    purpose: lineText(1000).optional(),
    creator: lineText(200).optional(),
    ticket: lineText(200).optional(),
    retention: retentionSchema.optional(),
    notes: freeText(4000).optional(),
    scope: requestScopeSchema.optional(),
    /** `--full-check`: link nothing from the previous backup, and have the hash stage re-read every file. */
    fullCheck: z.boolean().optional(),
  })
  .superRefine((req, ctx) => {
    const rule = RETENTION_RULES[req.kind];
    if (req.retention !== undefined && !rule.allowed.test(req.retention)) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: `a ${req.kind} backup cannot have retention ${req.retention}`,
      });
    }
    // The seed asks for clear cleanup criteria: a manual backup says when it may go, never silently forever.
    if (req.kind === 'manual' && req.retention === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: 'a manual backup needs --retention days_N or permanent (the seed: clear cleanup criteria)',
      });
    }
    if (req.kind === 'manual' && !req.purpose) {
      ctx.addIssue({
        code: 'custom',
        path: ['purpose'],
        message: 'a manual backup needs --purpose (the seed: "document purpose")',
      });
    }
  });
export type BackupRequest = z.infer<typeof backupRequestSchema>;

/** Formats zod issues as one line an operator can act on. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
