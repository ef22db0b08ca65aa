import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueName } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleProcess } from '../support/cli.ts';
import { backupAndWait, QueueProbe, show, waitForStatus } from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';
import { basicAuth, chromiumPresent, launchChromium } from './browser.ts';

const services = await serviceUrls();
const browserPresent = await chromiumPresent();
const HOST = 'ui-host';
const QUEUE = hostQueueName(HOST);
const VIEWER_PASSWORD = 'ui-viewer-password';

/**
 * Bull Board in a real browser, against real producer, worker and agent processes: an operator
 * logs in, finds the replicate job that failed because its target was down, brings the target
 * back and presses Retry; the backup ends verified. A viewer sees the same job and cannot retry.
 */
describe.skipIf(!services || !browserPresent)('Bull Board: an operator retry in the browser', () => {
  let stack: Stack;
  let producer: RoleProcess;
  let probe: QueueProbe;
  let browser: Browser;
  let board: string;
  let source: string;
  let backup: { id: string; key: string };
  let jobId: string;
  const admin = () => ({ username: 'admin', password: stack.env.BOARD_ADMIN_PASSWORD! });

  beforeAll(async () => {
    stack = await createStack(services!, 'ui-board');
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 256 * 1024 });
    // The fs target is down: its root is not there (an unmounted disk), and it never creates it.
    await rm(stack.secondDir, { recursive: true });
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
    // The producer starts before the host's agent registers: the board must pick the host up.
    producer = await stack.start(['producer'], { BOARD_VIEWER_PASSWORD: VIEWER_PASSWORD });
    board = /"board":"([^"]+)"/.exec(producer.log)![1]!;
    await Promise.all([stack.start(['worker']), stack.start(['agent', '--host', HOST])]);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await probe?.close();
    await stack?.stop();
  });

  it('refuses to start a producer with no login configured, outside dev mode (exit code 2)', async () => {
    const refused = await stack.cli(['producer'], { BOARD_ADMIN_PASSWORD: '' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /Bull Board needs a login and none is configured: set BOARD_ADMIN_PASSWORD/,
    );
    const weak = await stack.cli(['producer'], { BOARD_ADMIN_PASSWORD: 'admin' });
    expect(weak.code).toBe(2);
    expect(weak.stderr).toMatch(/BOARD_ADMIN_PASSWORD is shorter than 12 characters/);
    expect(weak.stderr).not.toMatch(/at \S+\.ts:\d+/); // an operator's message, not a stack trace
  });

  it('answers 401 with a login challenge without credentials', async () => {
    const bare = await fetch(board);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic /);
    // Headless Chromium has no login dialog: it ends the navigation at the challenge.
    const context = await browser.newContext();
    const page = await context.newPage();
    const answered = page.waitForResponse((r) => r.url() === board);
    await expect(page.goto(board)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect((await answered).status()).toBe(401);
    expect((await answered).headers()['www-authenticate']).toMatch(/^Basic realm="fleet-backup board"/);
    await context.close();
  });

  it('shows the failed replicate job of a backup whose target was down', async () => {
    const w = await backupAndWait(stack, [
      '--host',
      HOST,
      '--kind',
      'manual',
      '--purpose',
      'ui retry',
      '--retention',
      'permanent',
      '--path',
      source,
    ]);
    expect(w.result, w.run.stderr).toMatchObject({ status: 'failed' });
    backup = { id: w.result!.id, key: w.result!.key };
    jobId = `${backup.id}.replicate.second`;

    const context = await browser.newContext({ httpCredentials: admin() });
    const page = await context.newPage();
    expect((await page.goto(board))?.status()).toBe(200);
    const card = await openFailedJob(page, jobId);
    await expect.poll(() => card.textContent()).toMatch(/does not exist: create or mount it/);
    await context.close();
  });

  it('gives the read-only login the board without Retry, and answers its direct writes 403', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'viewer', password: VIEWER_PASSWORD },
    });
    const page = await context.newPage();
    const res = await page.goto(`${board}/queue/${QUEUE}?status=failed`);
    expect(res?.status()).toBe(200);
    expect(page.url()).toContain('/admin/queues/read-only/');
    const card = jobCard(page, jobId);
    await card.waitFor();
    // No Retry, and no Clean (remove) either: the read-only board renders no write controls.
    expect(await card.locator('svg.lucide-refresh-cw').count()).toBe(0);
    expect(await card.locator('svg.lucide-trash-2').count()).toBe(0);
    expect(await page.getByText('Retry all').count()).toBe(0);
    await context.close();

    const viewer = basicAuth('viewer', VIEWER_PASSWORD);
    const readOnly = board.replace('/admin/queues', '/admin/queues/read-only');
    for (const base of [board, readOnly]) {
      for (const method of ['PUT', 'POST']) {
        const write = await fetch(`${base}/api/queues/${QUEUE}/${jobId}/retry`, { method, headers: viewer });
        expect(write.status, `${method} ${base}`).toBe(403);
      }
    }
    expect(await probe.queue(QUEUE).getJobState(jobId)).toBe('failed');
  });

  it('retries from the board once the target is back, and the backup ends verified', async () => {
    await mkdir(stack.secondDir);
    const context = await browser.newContext({ httpCredentials: admin() });
    const page = await context.newPage();
    await page.goto(board);
    const card = await openFailedJob(page, jobId);
    const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/retry'));
    await card.locator('button:has(svg.lucide-refresh-cw)').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    expect((await retried).status()).toBeLessThan(300);
    await context.close();

    // It stays failed until the retried replicate completes and verify runs.
    expect(await waitForStatus(stack, backup.id, ['verified'])).toBe('verified');
    const done = await show(stack, backup.id);
    expect(done.copies.map((c) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['second', 'verified'],
    ]);
    expect(producer.log).toMatch(/"principal":"board admin","method":"PUT".*"msg":"bull board action"/);
    expect(producer.log).not.toContain(stack.env.BOARD_ADMIN_PASSWORD);
  });
});

/** The job's card on the board page (its header carries the job id). */
function jobCard(page: Page, jobId: string) {
  return page.locator('[class*="card"]', { has: page.getByText(jobId, { exact: true }) }).last();
}

/** Finds the host's queue the way an operator would with 200 of them: the sidebar filter, then Failed. */
async function openFailedJob(page: Page, jobId: string) {
  await page.getByPlaceholder('Filter queues').fill(HOST);
  // The host's normal lane (its urgent lane, `urgent.<host>`, shows under "urgent" with the same leaf name).
  await page.locator(`a[href$="/queue/${QUEUE}"]`).first().click();
  await page.waitForURL(`**/queue/${QUEUE}`);
  await page.locator(`a[href$="/queue/${QUEUE}?status=failed"]:has(span[data-text="FAILED"])`).click();
  const card = jobCard(page, jobId);
  await card.waitFor();
  return card;
}
