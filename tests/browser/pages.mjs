// The vendor and admin pages in a real browser (issue 16, items 3 and 5): Debian's
// headless Chromium, driven by playwright-core, at 390x844 (a phone) and 1280x800.
// A creator logs in with their upload token, looks at their photos and their camera
// page, makes an FTP login and a QR code for their phone; the organiser logs in with
// the setup code and looks at the creators, prices and audit log pages.
//
//   node pages.mjs <box url> <screenshot dir> <upload token> <admin setup code>
//
// Prints one JSON line with what it saw; exits non-zero on any failed expectation:
// a request to another origin, a script error, a page wider than the phone, a dialog
// (an injected script would open one).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [box, shots, token, code] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const fail = (msg) => { console.error(`pages.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seen = { shots: [] };
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, locale: 'en-GB',
  });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(box)) external.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', async (d) => { errors.push(`dialog: ${d.message()}`); await d.dismiss(); });
  // Both widths; at 390 px nothing may be wider than the screen.
  const shot = async (name) => {
    await page.setViewportSize({ width: 390, height: 844 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 390, `${name} is ${width}px wide at 390px`);
    await page.screenshot({ path: join(shots, `${name}-390.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(shots, `${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    seen.shots.push(name);
  };

  // The creator.
  await page.goto(`${box}/vendor/login`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${box}/vendor`), page.click('button[type=submit]')]);
  await shot('1-vendor');
  await page.click('#photos');
  await page.waitForSelector('#photos tr.photo');
  seen.photoRows = await page.$$eval('tr.photo', (rows) => rows.map((r) => r.getAttribute('data-state')));
  // The thumbnails load after the rows appear: give them up to 10 s (a loaded
  // machine), then record what loaded.
  await page
    .waitForFunction(
      () => [...document.querySelectorAll('tr.photo img')].every((i) => i.complete && i.naturalWidth > 0),
      null,
      { timeout: 10000 },
    )
    .catch(() => {});
  seen.thumbsLoaded = await page.$$eval('tr.photo img', (imgs) => imgs.every((i) => i.complete && i.naturalWidth > 0));
  await shot('2-vendor-photos');
  await page.goto(`${box}/vendor/cameras`);
  await page.click('form[action="/vendor/cameras/ftp"] button');
  await page.waitForSelector('#ftp-password');
  seen.ftpUser = await page.textContent('#ftp-user');
  await shot('3-vendor-cameras');
  await page.click('form[action="/vendor/cameras/token"] button');
  await page.waitForSelector('#new-token svg');
  const qr = await page.$eval('#new-token svg', (s) => s.getBoundingClientRect());
  seen.qrSize = [Math.round(qr.width), Math.round(qr.height)];
  expect(qr.width >= 200 && qr.width <= 390, `the QR code is ${qr.width}px wide`);
  await shot('4-vendor-qr');

  // The organiser.
  await page.goto(`${box}/admin/login`);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(`${box}/admin`), page.click('button[type=submit]')]);
  await page.click('a[href="/admin/creators"]');
  await page.waitForSelector('#creators');
  seen.creatorNames = await page.$$eval('#creators tr[data-creator] .name', (tds) => tds.map((t) => t.textContent));
  await shot('5-admin-creators');
  await page.goto(`${box}/admin/prices`);
  await shot('6-admin-prices');
  await page.goto(`${box}/admin/audit?action=creator.`);
  seen.auditRows = await page.$$eval('#audit tr', (rows) => rows.length - 1);
  await shot('7-admin-audit');
  await page.goto(`${box}/admin/event`);
  await shot('8-admin-event');

  expect(external.length === 0, `requests to other origins: ${external.join(', ')}`);
  expect(errors.length === 0, `errors: ${errors.join('; ')}`);
  seen.ok = true;
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
