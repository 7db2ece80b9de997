// The organiser dashboard in a real browser (issue 16, item 1): Debian's headless
// Chromium, driven by playwright-core, logs in on the admin page with the setup code,
// opens the dashboard, waits for its event stream, uploads a photo over FTP the way a
// camera does (tests/ftp_camera.py, Python's ftplib) and watches the photo count change
// on the page without a reload. Screenshots at 1280x800 and 390x844.
//
//   node dashboard.mjs <box url> <screenshot dir> <setup code> <ftp host> <ftp port> <ftp user> <ftp password> <photo>
//
// Prints one JSON line with what it saw; exits non-zero on any failed expectation.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [box, shots, code, ftpHost, ftpPort, ftpUser, ftpPassword, photo] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const fail = (msg) => { console.error(`dashboard.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };
const here = dirname(fileURLToPath(import.meta.url));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seen = {};
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'en-GB',
  });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(box)) external.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Every answer but the browser's own favicon guess must be a success.
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') errors.push(`${r.status()} ${r.url()}`);
  });

  await page.goto(`${box}/admin/login`);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(`${box}/admin`), page.click('button[type=submit]')]);

  const dash = await page.goto(`${box}/admin/dashboard?span=today`);
  expect(dash.status() === 200, `dashboard answered ${dash.status()}`);
  // The stream is open: the page's live badge says so.
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 15000 });
  const figure = (name) => page.$eval(`[data-figure="${name}"]`, (e) => e.textContent.trim());
  seen.before = await figure('photos_stored');
  expect(seen.before === '0', `photos before: ${seen.before}`);

  // A camera upload, while the page stays as it is.
  execFileSync('python3', [join(here, '..', 'ftp_camera.py'), 'camera', ftpHost, ftpPort, ftpUser, ftpPassword, photo]);
  const uploaded = Date.now();
  await page.waitForFunction(
    () => document.querySelector('[data-figure="photos_stored"]').textContent.trim() === '1',
    null, { timeout: 10000 },
  );
  seen.changedAfterMs = Date.now() - uploaded;
  seen.after = await figure('photos_stored');
  seen.lastMinute = await figure('photos_last_minute');
  seen.navigations = 0;
  // The heavy panels redraw at their slow period; a reload draws them now, with the
  // photo (rendered by then), so the screenshots show a box at work.
  await page.waitForTimeout(1500);
  await page.reload();
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 15000 });
  seen.ingestRow = await page.$eval('#panel-ingest table td', (td) => td.textContent);
  expect(seen.ingestRow === 'Studio Nord', `ingest row: ${seen.ingestRow}`);
  await page.screenshot({ path: join(shots, 'dashboard-1280.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'dashboard-390.png'), fullPage: false });
  await page.screenshot({ path: join(shots, 'dashboard-390-full.png'), fullPage: true });
  // Nothing wider than the phone: no sideways scrolling.
  seen.overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(seen.overflow <= 0, `the page is ${seen.overflow} px wider than the phone`);
  seen.spans = await page.$$eval('nav a', (as) => as.map((a) => a.textContent));
  seen.current = await page.$eval('nav a[aria-current]', (a) => a.textContent);
  expect(external.length === 0, `requests left the box: ${external}`);
  expect(errors.length === 0, `page errors: ${errors}`);
  seen.ok = true;
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
