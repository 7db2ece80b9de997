// Delivery in a real browser (issue 14): Debian's headless Chromium, driven by
// playwright-core, at a phone's 390x844 and a laptop's 1280x800. portal -> consent ->
// gallery -> my photos -> claim -> (the vendor confirms on the vendor page) -> the
// progressive reveal -> the download of one photo, then of the whole order as one ZIP,
// through the link.
//
//   node delivery.mjs <box port> <screenshot dir> <admin token> <vendor token> <photo id>,<photo id>...
//
// Prints one JSON line with what it saw; exits non-zero on any failed expectation.
// tests/browser.rs runs it and checks the database afterwards.
import { chromium } from 'playwright-core';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [port, shots, admin, vendor, photoList] = process.argv.slice(2);
const photos = photoList.split(',');
const photo = photos[0];
mkdirSync(shots, { recursive: true });
const box = `http://127.0.0.1:${port}`;
const fail = (msg) => { console.error(`delivery.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };
const api = async (method, path, token, body) => {
  const r = await fetch(box + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seen = {};
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, locale: 'en-GB', acceptDownloads: true,
  });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(box)) external.push(r.url()); });
  const shot = async (name) => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(shots, `${name}-390.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(shots, `${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
  };

  // Consent (to the gallery), then the pass.
  await page.goto(`${box}/portal`);
  await page.check('#gallery');
  await page.click('button[value=accept]');
  expect(new URL(page.url()).pathname === '/portal/pass', `after consent: ${page.url()}`);
  const pass = (await page.textContent('code')).trim();

  // The photographer tags the photos to this pass (the admin API).
  for (const p of photos) {
    const tagged = await api('PUT', `/api/admin/photos/${p}/attendees`, admin, { passes: [pass] });
    expect(tagged.status === 204, `tagging ${p}: ${tagged.status}`);
  }
  // And marks it public: with the only tagged attendee consenting, it is in the gallery.
  const marked = await api('PUT', `/api/vendor/photos/${photo}/public`, vendor, { public: true });
  expect(marked.status === 200, `public mark: ${marked.status}`);

  await page.goto(`${box}/portal/gallery`);
  const thumb = page.locator(`img[src="/portal/photos/${photo}/thumb"]`);
  await thumb.waitFor();
  // The thumb is rendered on first request (well under a second on the box; more on a
  // busy test machine).
  await page.waitForFunction(
    (src) => [...document.images].some((i) => i.getAttribute('src') === src && i.complete && i.naturalWidth > 0),
    `/portal/photos/${photo}/thumb`, { timeout: 60000 },
  ).catch(() => fail('gallery thumb loads'));
  await shot('1-gallery');

  // My photos: the watermarked preview behind the thumb; tick it and order.
  await page.goto(`${box}/portal/mine`);
  expect(await page.isVisible(`a[href="/portal/photos/${photo}/watermarked"]`), 'watermarked before paying');
  await shot('2-mine');
  for (const p of photos) await page.check(`input[name=photo][value="${p}"]`);
  await page.click('button:not([name])');
  expect(new URL(page.url()).pathname === '/portal/orders', `after ordering: ${page.url()}`);
  seen.code = (await page.textContent('h2 code')).trim();
  await shot('3-ordered');

  // The vendor confirms payment on their own terminal (the API).
  const pending = await api('GET', '/api/vendor/orders?state=pending', vendor);
  expect(pending.status === 200 && pending.body.length === 1 && pending.body[0].code === seen.code, 'pending order');
  // On the vendor page, in the vendor's own browser: log in with the upload token,
  // find the order waiting, press "Paid".
  const stall = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const vpage = await stall.newPage();
  await vpage.goto(`${box}/vendor`);
  expect(new URL(vpage.url()).pathname === '/vendor/login', `vendor page without a session: ${vpage.url()}`);
  await vpage.fill('#token', vendor);
  await vpage.click('button[type=submit]');
  expect(new URL(vpage.url()).pathname === '/vendor', `after vendor login: ${vpage.url()}`);
  expect(await vpage.isVisible(`text=${seen.code}`), 'the order waits on the vendor page');
  await vpage.screenshot({ path: join(shots, '6-vendor-1280.png'), fullPage: true });
  await vpage.click(`form[action="/vendor/orders/${pending.body[0].id}/confirm"] button`);
  expect(await vpage.isVisible('#link'), 'the link is shown after confirming');
  seen.vendorLink = (await vpage.textContent('#link')).trim();
  await vpage.setViewportSize({ width: 390, height: 844 });
  await vpage.screenshot({ path: join(shots, '6-vendor-390.png'), fullPage: true });
  await stall.close();

  // The progressive reveal: my photos now open the unwatermarked preview.
  await page.goto(`${box}/portal/mine`);
  const reveal = page.locator(`a[href="/portal/photos/${photo}/preview"]`);
  expect(await reveal.isVisible(), 'unwatermarked preview after confirmation');
  await shot('4-revealed');
  const preview = await page.request.get(`${box}/portal/photos/${photo}/preview`);
  expect(preview.status() === 200, `preview: ${preview.status()}`);

  // The link: from the orders page to the download page, then one photo saved.
  await page.goto(`${box}/portal/orders`);
  await page.click('a[href^="/portal/d/"]');
  expect(new URL(page.url()).pathname.startsWith('/portal/d/'), `link page: ${page.url()}`);
  await shot('5-link');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click(`a[href$="/${photo}"]`),
  ]);
  seen.filename = download.suggestedFilename();
  const saved = join(shots, seen.filename);
  await download.saveAs(saved);
  seen.downloadBytes = statSync(saved).size;
  expect(seen.downloadBytes > 1000, `downloaded ${seen.downloadBytes} bytes`);
  // The whole order as one ZIP file.
  const [zip] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a[href$="/zip"]'),
  ]);
  seen.zipname = zip.suggestedFilename();
  expect(seen.zipname.endsWith('.zip'), `zip file name: ${seen.zipname}`);
  await zip.saveAs(join(shots, seen.zipname));
  expect((await zip.failure()) === null, `zip download failed: ${await zip.failure()}`);
  expect(external.length === 0, `pages loaded something from elsewhere: ${external}`);
  seen.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
