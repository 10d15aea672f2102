// The dashboard at scale, in Debian's headless Chromium: node benches/dashboard.mjs URL N
// (benches/dashboard.py starts the broker, seeds N statuses and starts serve). Prints JSON:
// time to the first rows, to the whole table counted, rows in the DOM, a scroll's redraw.
const { chromium } = await import(new URL('../tests/browser/node_modules/playwright-core/index.mjs', import.meta.url));
const [url, n] = [process.argv[2], Number(process.argv[3])];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const t0 = Date.now();
await page.goto(url, { waitUntil: 'load' });
await page.waitForFunction(() => document.querySelectorAll('#rows .row').length > 0, null, { timeout: 120000 });
const firstRows = Date.now() - t0;
await page.waitForFunction((n) => document.querySelector('#shown').textContent === `${n} clients`, n, { timeout: 120000 });
const whole = Date.now() - t0;
const domRows = await page.locator('#rows .row').count();
// A scroll to the middle: the time until the rows there are drawn.
const scroll = await page.evaluate(async () => {
  const vp = document.getElementById('viewport');
  const t = performance.now();
  vp.scrollTop = vp.scrollHeight / 2;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
});
const middle = await page.evaluate(() => document.querySelector('#rows .row')?.dataset.name);
// A filter over all of them.
const filter = await page.evaluate(async () => {
  const f = document.getElementById('filter');
  const t = performance.now();
  f.value = 'dev4242';
  f.dispatchEvent(new Event('input'));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
});
const heap = await page.evaluate(() => performance.memory ? performance.memory.usedJSHeapSize : null);
console.log(JSON.stringify({ n, firstRows, whole, domRows, scrollMs: scroll, middle, filterMs: filter, heapMiB: heap && heap / 2 ** 20 }));
await browser.close();
