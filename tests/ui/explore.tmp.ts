import { loadConfig } from '@fleet-backup/config';
import { buildServer } from '@fleet-backup/producer';
import { openRuntime } from '@fleet-backup/runtime';
import { isolate, serviceUrls } from '@fleet-backup/testkit';
import { launchChromium } from './browser.ts';

const services = (await serviceUrls())!;
const iso = await isolate(services, 'explore');
const rt = await openRuntime(loadConfig({ REDIS_URL: iso.redisUrl, DATABASE_URL: iso.databaseUrl, QUEUE_PREFIX: iso.queuePrefix, BOARD_ADMIN_PASSWORD: 'admin-password-123', LOG_LEVEL: 'warn' }), { name: 'x' });
for (let i = 0; i < Number(process.env.N); i++) { await rt.hosts.touch(`h-${i}`); await rt.queues.queue(`host.h-${i}`).add('snapshot', { i }); }
const { app } = await buildServer(rt, { token: null });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const browser = await launchChromium();
const ctx = await browser.newContext({ httpCredentials: { username: 'admin', password: 'admin-password-123' } });
const page = await ctx.newPage();
const t0 = performance.now();
page.on('response', (r) => { if (r.url().includes('/api/')) console.log((performance.now() - t0).toFixed(0), 'res', r.url().slice(url.length)); });
page.on('console', (m) => console.log('console', m.text().slice(0, 200)));
await page.goto(`${url}/admin/queues`, { waitUntil: 'networkidle' });
console.log('networkidle', (performance.now() - t0).toFixed(0));
for (let i = 0; i < 6; i++) { await page.waitForTimeout(500); const txt = await page.locator('main').textContent().catch(() => 'no main'); console.log((performance.now() - t0).toFixed(0), (txt ?? '').slice(0, 120)); }
await page.screenshot({ path: '/tmp/overview2.png' });
await browser.close();
await app.close(); await rt.close(); await iso.cleanup();
