// Firefox ESR for the e2e tests: Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi (Playwright cannot drive a stock Firefox). A fresh profile per launch, fake media, and
// host candidates left plain so Chromium in the same test namespace can reach them.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { STEP_MS, sleep, waitFor, withTimeout } from './harness.mjs';

export const FIREFOX = process.env.HUSH_FIREFOX ?? '/usr/bin/firefox-esr';

/** Launches Firefox with a fresh profile, saving downloads into `downloads` without asking. */
export async function launchFirefox({ downloads } = {}) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'hush-firefox-'));
  const browser = await withTimeout(
    puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      userDataDir: profile,
      extraPrefsFirefox: {
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
        'dom.serviceWorkers.testing.enabled': true,
        ...(downloads
          ? {
              'browser.download.folderList': 2,
              'browser.download.dir': downloads,
              'browser.download.useDownloadDir': true,
              'browser.download.always_ask_before_handling_new_types': false,
              'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream',
              'browser.download.manager.showWhenStarting': false,
            }
          : {}),
      },
    }),
    60_000,
    'launch Firefox',
  );
  const errors = [];
  return {
    browser,
    errors,
    async page(url) {
      const page = await withTimeout(browser.newPage(), STEP_MS, 'Firefox: new page');
      page.on('pageerror', (err) => errors.push(`[pageerror] ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`[console] ${msg.text()}`);
      });
      if (url) await withTimeout(page.goto(url, { waitUntil: 'load' }), 20_000, `Firefox: open ${url}`);
      return page;
    },
    async close() {
      await withTimeout(browser.close(), 15_000, 'close Firefox').catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Clicks the button whose text is `name` (waiting for it). */
export async function clickButton(page, name, timeout = STEP_MS) {
  await waitFor(
    () =>
      page.evaluate((name) => {
        const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === name && !x.disabled);
        if (!b) return false;
        b.click();
        return true;
      }, name),
    { timeout, what: `Firefox: button "${name}"` },
  );
}

/** Types `text` into "Message" and sends it with Enter. */
export async function sendFromFirefox(page, text) {
  const box = 'textarea[aria-label="Message"]';
  await withTimeout(page.waitForSelector(box, { visible: true }), STEP_MS, 'Firefox: the message box');
  await page.type(box, text);
  await sleep(50);
  await page.keyboard.press('Enter');
}

/** The "Messages" log's text in Firefox. */
export const firefoxLog = (page) =>
  page.evaluate(() => document.querySelector('[role="log"][aria-label="Messages"]')?.innerText ?? '');
