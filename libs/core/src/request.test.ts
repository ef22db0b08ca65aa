import { describe, expect, it } from 'vitest';
import { backupRequestSchema, describeIssues } from './request.ts';

const manual = { host: 'web-01', kind: 'manual', paths: ['/srv/app'], purpose: 'before the disk swap' };

describe('backup requests: a manual backup says when it may go', () => {
  it('refuses a manual backup without a retention, naming --retention', () => {
    const parsed = backupRequestSchema.safeParse(manual);
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!)).toBe(
      'retention: a manual backup needs --retention days_N or permanent (the seed: clear cleanup criteria)',
    );
  });

  it('takes days_N or permanent, and refuses until_verified for a manual backup', () => {
    expect(backupRequestSchema.parse({ ...manual, retention: 'days_30' }).retention).toBe('days_30');
    expect(backupRequestSchema.parse({ ...manual, retention: 'permanent' }).retention).toBe('permanent');
    const parsed = backupRequestSchema.safeParse({ ...manual, retention: 'until_verified' });
    expect(describeIssues(parsed.error!)).toMatch(
      /retention: a manual backup cannot have retention until_verified/,
    );
  });

  it('asks nothing more of a daily or a pre_change', () => {
    expect(backupRequestSchema.safeParse({ host: 'web-01', kind: 'daily', paths: ['/srv'] }).success).toBe(
      true,
    );
    const pre = { host: 'web-01', kind: 'pre_change', paths: ['/srv'], description: 'before v2' };
    expect(backupRequestSchema.safeParse(pre).success).toBe(true);
  });
});
