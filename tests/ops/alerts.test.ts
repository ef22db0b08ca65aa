import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { METRICS } from '@fleet-backup/runtime';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../support/cli.ts';

const RULES = path.join(repoRoot, 'infra/prometheus/rules/fleet-backup.rules.yml');
const RULE_TESTS = path.join(repoRoot, 'infra/prometheus/rules/fleet-backup.rules.test.yml');
const DASHBOARD = path.join(repoRoot, 'infra/grafana/dashboards/fleet-backup.json');

// .ci/run installs Debian's prometheus package for promtool; elsewhere its checks skip, never in CI.
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool && process.env.CI) throw new Error('promtool is missing: install the prometheus package');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/**
 * The metric names a PromQL expression reads: identifiers outside label matchers, ranges,
 * strings and grouping clauses that are neither a function call nor an operator keyword.
 */
function metricNamesIn(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of cleaned.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = cleaned.slice((m.index ?? 0) + m[0].length);
    if (/^\s*\(/.test(after) || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

/** Names our code exports (histograms with their series suffixes), plus Node's standard process series. */
function isExported(name: string): boolean {
  if (/^(process|nodejs)_/.test(name)) return true;
  return Object.values(METRICS).some(
    (m) => m.name === name || (m.type === 'histogram' && name.replace(HISTOGRAM_SUFFIX, '') === m.name),
  );
}

async function rules(): Promise<Rule[]> {
  const doc = parse(await readFile(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

async function dashboardPanels(): Promise<Panel[]> {
  const doc = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return doc.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

function promtool(...args: string[]) {
  const run = spawnSync('promtool', args, { encoding: 'utf8', cwd: path.dirname(RULES) });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('Prometheus alert rules', () => {
  it.skipIf(!hasPromtool)('pass promtool check rules', () => {
    const run = promtool('check', 'rules', RULES);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!hasPromtool)('pass their unit tests (promtool test rules: overdue daily, failed drill…)', () => {
    const run = promtool('test', 'rules', RULE_TESTS);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/SUCCESS/);
  });

  it.skipIf(!hasPromtool)(
    'fail promtool when a rule test expects the wrong thing (the check bites)',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-rules-'));
      try {
        const tests = (await readFile(RULE_TESTS, 'utf8')).replace('host: db-01', 'host: web-01');
        await writeFile(path.join(dir, 'fleet-backup.rules.yml'), await readFile(RULES));
        await writeFile(path.join(dir, 'tests.yml'), tests);
        const run = spawnSync('promtool', ['test', 'rules', 'tests.yml'], { cwd: dir, encoding: 'utf8' });
        expect(run.status).not.toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('cover the alerts operators need, each with a severity, a summary, a description and a runbook', async () => {
    const all = await rules();
    expect(all.map((r) => r.alert).sort()).toEqual(
      [
        'FleetBackupCopyCorrupt',
        'FleetBackupDailyOverdue',
        'FleetBackupDrillFailed',
        'FleetBackupFailedJobsPilingUp',
        'FleetBackupMassChange',
        'FleetBackupNot321',
        'FleetBackupPreChangePending',
        'FleetBackupRotFound',
        'FleetBackupStorageGrowthAbnormal',
        'FleetBackupVerificationFailed',
      ].sort(),
    );
    for (const rule of all) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      for (const key of ['summary', 'description', 'runbook'])
        expect(rule.annotations?.[key], `${rule.alert} ${key}`).toBeTruthy();
    }
    const byName = new Map(all.map((r) => [r.alert, r]));
    expect(byName.get('FleetBackupDailyOverdue')?.expr).toMatch(/26 \* 3600/);
    expect(byName.get('FleetBackupNot321')?.expr).toMatch(/24 \* 3600/);
    expect(byName.get('FleetBackupPreChangePending')?.expr).toMatch(/7 \* 86400/);
  });

  it('read only metrics the code exports', async () => {
    const used = (await rules()).flatMap((r) => metricNamesIn(r.expr));
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((n) => !isExported(n))).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('parses and has the panels operators look for', async () => {
    const doc = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      uid: string;
      title: string;
      templating: unknown;
    };
    expect(doc.uid).toBe('fleet-backup');
    const titles = (await dashboardPanels()).map((p) => p.title).join('\n');
    for (const wanted of [
      /not 3-2-1/i,
      /overdue hosts/i,
      /queue depth/i,
      /failed jobs/i,
      /stage duration p95/i,
      /bytes per second/i,
      /storage per target/i,
      /drill/i,
      // Issue 12: rot found after verification, how much of each copy was re-read, and its egress.
      /rot found/i,
      /re-read within/i,
      /read back per day/i,
    ])
      expect(titles).toMatch(wanted);
    expect(JSON.stringify(doc.templating)).toMatch(/"type":"datasource"/);
  });

  it('reads only metrics the code exports', async () => {
    const exprs = (await dashboardPanels()).flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(20);
    const used = exprs.flatMap(metricNamesIn);
    expect(new Set(used)).toContain('fleet_backup_stage_duration_seconds_bucket');
    expect(used.filter((n) => !isExported(n))).toEqual([]);
  });

  it.skipIf(!hasPromtool)(
    'holds valid PromQL (each expression checked by promtool as a recording rule)',
    async () => {
      const exprs = (await dashboardPanels()).flatMap((p) => p.targets ?? []).map((t) => t.expr);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-dash-'));
      try {
        const group = exprs.map(
          (expr, i) =>
            `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '5m'))}`,
        );
        await writeFile(
          path.join(dir, 'dashboard.yml'),
          `groups:\n  - name: dashboard\n    rules:\n${group.join('\n')}\n`,
        );
        const run = promtool('check', 'rules', path.join(dir, 'dashboard.yml'));
        expect(run.code, run.output).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('metricNamesIn', () => {
  it('finds metric names and skips functions, labels, ranges, keywords and Grafana variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket{outcome="done",x=~"b|c"}[$__rate_interval]))) > 1e9 and on (target) b or vector(0)',
      ),
    ).toEqual(['a_bucket', 'b']);
    expect(isExported('fleet_backup_stage_duration_seconds_count')).toBe(true);
    expect(isExported('fleet_backup_backups_count')).toBe(false);
    expect(isExported('fleet_backup_made_up')).toBe(false);
  });
});
