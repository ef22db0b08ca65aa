import { access } from 'node:fs/promises';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it); `npx playwright install` cannot download here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless Chromium with the flags that keep it quiet and offline (GUIDE §4). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** True when the browser is installed; under CI a missing one fails the test instead of skipping it. */
export async function chromiumPresent(): Promise<boolean> {
  const present = await access(CHROMIUM).then(
    () => true,
    () => false,
  );
  if (!present && process.env.CI)
    throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
  return present;
}

/** Basic-auth header for a board login. */
export function basicAuth(user: string, password: string): { authorization: string } {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
