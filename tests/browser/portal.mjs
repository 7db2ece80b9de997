// The captive portal in a real browser: Debian's headless Chromium, driven by
// playwright-core. Every host name resolves to the box (as the venue's DNS makes it),
// so the journey starts where a phone's captive sheet does: at an OS probe URL.
//
//   node portal.mjs <box port> <screenshot dir>
//
// Prints one JSON line with what it saw; exits non-zero on any failed expectation.
// tests/browser.rs runs it and checks the database afterwards.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [port, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const fail = (msg) => { console.error(`portal.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP * 127.0.0.1:${port}`,
  ],
});
const seen = {};
try {
  // A phone-sized screen, in German first to check the language choice.
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, locale: 'de-DE',
    userAgent: 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36',
  });
  const page = await context.newPage();
  const external = [];
  // Portal pages load nothing besides themselves: no stylesheet, font, script or image.
  page.on('request', (r) => { if (r.resourceType() !== 'document') external.push(r.url()); });

  // The probe redirects to the portal.
  await page.goto('http://connectivitycheck.gstatic.com/generate_204');
  expect(new URL(page.url()).pathname === '/portal', `probe led to ${page.url()}`);
  expect((await page.getAttribute('html', 'lang')) === 'de', 'German for a German phone');
  await page.screenshot({ path: join(shots, '1-welcome-de.png'), fullPage: true });

  // Switch to English with the language link.
  await page.click('a[hreflang="en"]');
  expect((await page.getAttribute('html', 'lang')) === 'en', 'English after switching');
  const boxes = await page.$$('input[type=checkbox]');
  expect(boxes.length === 4, `four scopes, saw ${boxes.length}`);
  for (const b of boxes) expect(!(await b.isChecked()), 'nothing pre-ticked');
  // Every checkbox has a visible label; the form works from the keyboard.
  for (const scope of ['gallery', 'receive', 'sync', 'marketing']) {
    expect(await page.isVisible(`label[for=${scope}]`), `label for ${scope}`);
  }
  await page.screenshot({ path: join(shots, '2-welcome-en.png'), fullPage: true });
  await page.focus('#gallery');
  await page.keyboard.press('Space');
  await page.check('#receive');
  await page.click('button[value=accept]');

  // The pass: a QR code and the code in text.
  expect(new URL(page.url()).pathname === '/portal/pass', `after consent: ${page.url()}`);
  const svg = await page.$('.qr svg');
  expect(svg !== null, 'QR code on the pass page');
  const box = await svg.boundingBox();
  expect(box.width >= 150, `QR code is ${box.width}px wide`);
  expect(box.width <= 358, `QR code is ${box.width}px wide: it must fit a 390 px screen`);
  seen.pass = (await page.textContent('code.pass')).trim();
  expect(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(seen.pass), `pass code ${seen.pass}`);
  await page.screenshot({ path: join(shots, '3-pass.png'), fullPage: true });

  // The OS's probe now says "online", so the captive sheet would close.
  const probePage = await context.newPage();
  const [probe] = await Promise.all([
    probePage.waitForResponse((r) => r.url().includes('/generate_204')),
    probePage.goto('http://connectivitycheck.gstatic.com/generate_204').catch(() => null),
  ]);
  seen.probeAfter = probe.status();
  expect(probe.status() === 204, `probe after consent: ${probe.status()}`);
  const apple = await probePage.goto('http://captive.apple.com/hotspot-detect.html');
  expect(apple.status() === 200 && (await apple.text()).includes('<TITLE>Success</TITLE>'), 'Apple success page');
  await probePage.close();

  // My data: both agreed; withdraw the gallery.
  await page.click('a[href^="/portal/me"]');
  await page.screenshot({ path: join(shots, '4-my-data.png'), fullPage: true });
  const rowState = async (label) => (await page.textContent(`tr:has(th:text-is("${label}")) td`)).trim();
  expect((await rowState('Public gallery')) === 'Agreed', 'gallery agreed');
  expect((await rowState('Organiser\'s cloud')) === 'Not agreed', 'sync not agreed');
  await page.click('button[aria-label="Withdraw: Public gallery"]');
  expect((await rowState('Public gallery')) === 'Not agreed', 'gallery withdrawn');
  expect((await rowState('Receive my photos')) === 'Agreed', 'receive still agreed');
  await page.screenshot({ path: join(shots, '5-withdrawn.png'), fullPage: true });

  // The whole first load is small and nothing came from outside the box.
  const first = await page.request.get(`http://127.0.0.1:${port}/portal`);
  seen.firstLoadBytes = (await first.body()).length;
  expect(seen.firstLoadBytes < 50 * 1024, `first load ${seen.firstLoadBytes} bytes`);
  expect(external.length === 0, `pages loaded more than themselves: ${external}`);

  // Without JavaScript the journey works just the same (a second phone).
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 } });
  const p2 = await plain.newPage();
  await p2.goto('http://example.org/any/page');
  expect(new URL(p2.url()).pathname === '/portal', `any site led to ${p2.url()}`);
  await p2.click('button[value=decline]');
  expect(new URL(p2.url()).pathname === '/portal/pass', 'decline still gives a pass');
  await p2.screenshot({ path: join(shots, '6-declined-no-js.png'), fullPage: true });
  seen.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
