// The phone uploader in a real browser (issue 16, item 4): Debian's headless Chromium,
// driven by playwright-core, logs in on the vendor page with an upload token, opens
// the uploader, and sends photos with the box's own tus-js-client, through a loopback
// proxy that tests/browser.rs runs and cuts while the uploads are under way. Then a
// third photo is interrupted by a page reload and chosen again: it continues from the
// box's offset. Screenshots at 390x844 and 1280x800.
//
//   node uploader.mjs <proxy url> <screenshot dir> <upload token> <cut photo> <cut photo> <reload photo>
//
// Prints one JSON line with what it saw; exits non-zero on any failed expectation.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [box, shots, token, first, second, third] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const fail = (msg) => { console.error(`uploader.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seen = {};
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, locale: 'en-GB',
  });
  const page = await context.newPage();
  const external = [];
  const scripts = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(box)) external.push(r.url());
    if (r.resourceType() === 'script') scripts.push(new URL(r.url()).pathname);
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const shot = async (name) => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(shots, `${name}-390.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(shots, `${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
  };
  const rows = () => page.$$eval('#files li', (lis) => lis.map((li) => ({
    name: li.querySelector('.name').textContent,
    state: li.getAttribute('data-state'),
    key: li.getAttribute('data-key'),
    photo: li.getAttribute('data-photo'),
    preview: li.getAttribute('data-preview'),
    retries: Number(li.getAttribute('data-retries') || 0),
    resumedFrom: li.getAttribute('data-resumed-from'),
    accepted: li.getAttribute('data-accepted'),
    sent: li.querySelector('progress').value,
    text: li.querySelector('.state').textContent,
  })));
  // Every shown preview has loaded (a real image, not a broken one).
  const previewsLoaded = () => page.waitForFunction(
    () => [...document.querySelectorAll('#files li')].every((li) => {
      const img = li.querySelector('img');
      return li.getAttribute('data-state') === 'done' && img.getAttribute('src')
        && img.getAttribute('src').startsWith('/photos/') && img.complete && img.naturalWidth > 0;
    }),
    null, { timeout: 120000, polling: 200 },
  );

  // Log in with the upload token; the vendor page links to the uploader.
  await page.goto(`${box}/vendor/login`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  expect(new URL(page.url()).pathname === '/vendor', `after login: ${page.url()}`);
  await page.click('a#upload');
  expect(new URL(page.url()).pathname === '/vendor/upload', `uploader: ${page.url()}`);
  await page.waitForSelector('#pick:not([disabled])');
  await shot('1-empty');

  // Two photos at once; the test's proxy drops every connection while they go.
  await page.setInputFiles('#pick', [first, second]);
  await page.waitForSelector('#files li[data-state=retrying]', { timeout: 60000 })
    .catch(() => fail('no upload noticed the dropped connection'));
  await shot('2-connection-lost');
  await page.waitForFunction(
    () => document.querySelectorAll('#files li[data-state=done]').length === 2,
    null, { timeout: 180000, polling: 200 },
  ).catch(async () => fail(`both uploads done: ${JSON.stringify(await rows())}`));
  await previewsLoaded().catch(async () => fail(`previews: ${JSON.stringify(await rows())}`));
  seen.cut = await rows();
  expect(seen.cut.some((r) => r.retries > 0), `a retry: ${JSON.stringify(seen.cut)}`);
  await shot('3-done');

  // A third photo, interrupted by a reload once its first chunk is on the box.
  await page.setInputFiles('#pick', [third]);
  await page.waitForFunction(
    () => {
      const li = document.querySelectorAll('#files li')[2];
      return li && Number(li.getAttribute('data-accepted') || 0) > 0
        && li.getAttribute('data-state') !== 'stored' && li.getAttribute('data-state') !== 'done';
    },
    null, { timeout: 60000, polling: 20 },
  ).catch(async () => fail(`third upload under way: ${JSON.stringify(await rows())}`));
  seen.acceptedBeforeReload = Number(await page.getAttribute('#files li:nth-child(3)', 'data-accepted'));
  await page.reload();
  await page.waitForSelector('#unfinished:not([hidden]) li', { timeout: 10000 })
    .catch(() => fail('the reloaded page lists the unfinished upload'));
  seen.unfinished = await page.textContent('#unfinished ul');
  await shot('4-reloaded');
  await page.setInputFiles('#pick', [third]);
  await page.waitForSelector('#files li[data-state=done]', { timeout: 120000 })
    .catch(async () => fail(`resumed upload done: ${JSON.stringify(await rows())}`));
  await previewsLoaded().catch(async () => fail(`resumed preview: ${JSON.stringify(await rows())}`));
  seen.reload = await rows();
  expect(Number(seen.reload[0].resumedFrom) >= seen.acceptedBeforeReload,
    `resumed from the box's offset: ${JSON.stringify(seen.reload)}, ${seen.acceptedBeforeReload} accepted`);

  // The German page.
  await page.goto(`${box}/vendor/upload?lang=de`);
  await page.waitForSelector('#pick:not([disabled])');
  seen.german = await page.textContent('h1');
  expect(await page.isHidden('#unfinished'), 'a finished upload is not listed as unfinished');
  await shot('5-german');

  seen.external = external;
  seen.scripts = [...new Set(scripts)];
  seen.errors = errors;
  expect(external.length === 0, `requests off the box: ${external}`);
  expect(errors.length === 0, `page errors: ${errors}`);
  seen.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
