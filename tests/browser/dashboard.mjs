// Drives Debian's Chromium (playwright-core, no browser download) through serve's
// dashboard for tests/dashboard.rs. Usage: node dashboard.mjs URL [SCREENSHOT.png]
//
// Talks to the Rust side in lines: prints `READY` once `flip` shows online (the test then
// publishes its offline status) and `OK` at the end; `FAIL: why` and exit 1 otherwise.
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const HOSTILE = '<img src=x onerror=alert(1)>';
const say = (line) => process.stdout.write(`${line}\n`);
const fail = (why) => { say(`FAIL: ${why}`); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const dialogs = [];
  const errors = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url, { waitUntil: 'load' });
  const stateOf = (name) => page.evaluate((n) => {
    const row = [...document.querySelectorAll('#rows .row')].find((r) => r.dataset.name === n);
    return row ? row.querySelector('[data-col="state"]').textContent : null;
  }, name);
  const waitState = async (name, want, ms) => {
    const end = Date.now() + ms;
    for (;;) {
      const got = await stateOf(name);
      if (got === want) return;
      if (Date.now() > end) fail(`${name} did not show ${want} (shows ${got}) ${errors}`);
      await page.waitForTimeout(50);
    }
  };
  const end = Date.now() + 15000;
  while (await page.locator('#rows .row').count() < 20) {
    if (Date.now() > end) fail(`the table did not fill: ${errors}`);
    await page.waitForTimeout(50);
  }
  const marker = await page.evaluate(() => window.mqttScanLoadedAt);
  if (!marker) fail('no load marker');

  // The hostile name is text, and nothing ran.
  const hostile = await page.evaluate((n) => {
    const row = [...document.querySelectorAll('#rows .row')].find((r) => r.dataset.name === n);
    return row && row.querySelector('[data-col="name"]').textContent;
  }, HOSTILE);
  if (hostile !== HOSTILE) fail(`the hostile name shows as ${JSON.stringify(hostile)}`);
  if (await page.locator('#rows img, #head img').count()) fail('an <img> got into the table');

  // The header says connected and counts.
  const link = await page.textContent('#link');
  if (link !== 'connected') fail(`the header says ${JSON.stringify(link)}`);

  // The client the test turns offline, found with the filter.
  await page.fill('#filter', 'flip');
  await waitState('flip', 'online', 15000);
  say('READY');
  await waitState('flip', 'offline', 15000);
  if (await page.evaluate(() => window.mqttScanLoadedAt) !== marker) fail('the page reloaded');
  await page.fill('#filter', '');

  // Filter by text, then by state.
  const names = () => page.evaluate(() => [...document.querySelectorAll('#rows .row')].map((r) => r.dataset.name));
  await page.fill('#filter', 'dev-1');
  await page.waitForTimeout(100);
  let shown = await names();
  if (!shown.length || !shown.every((n) => n.includes('dev-1'))) fail(`filter dev-1 shows ${shown}`);
  await page.fill('#filter', '');
  await page.selectOption('#state', 'offline');
  await page.waitForTimeout(100);
  const states = await page.evaluate(() => [...document.querySelectorAll('#rows [data-col="state"]')].map((s) => s.textContent));
  if (!states.length || !states.every((s) => s === 'offline')) fail(`offline filter shows ${states}`);
  await page.selectOption('#state', '');

  // Natural sort by name, then reversed by a click on its header.
  await page.waitForTimeout(100);
  shown = await names();
  const i2 = shown.indexOf('dev-2');
  const i10 = shown.indexOf('dev-10');
  if (i2 < 0 || i10 < 0 || i2 > i10) fail(`natural order: ${shown.slice(0, 15)}`);
  await page.click('#head [data-key="name"]');
  await page.waitForTimeout(100);
  const reversed = await names();
  const collator = new Intl.Collator(undefined, { numeric: true });
  const descending = [...reversed].sort(collator.compare).reverse();
  if (reversed[0] !== 'plant/line-3' || reversed.join() !== descending.join()) {
    fail(`reversed: ${reversed.slice(0, 15)}`);
  }
  await page.click('#head [data-key="name"]');

  if (dialogs.length) fail(`a dialog opened: ${dialogs}`);
  if (errors.length) fail(`page errors: ${errors}`);
  if (screenshot) {
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshot });
  }
  say('OK');
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
