// A photographer's own web page uploading to the box with tus-js-client, in Debian's
// headless Chromium driven by playwright-core: the page is served from an origin
// other than the box's (another port on loopback is another origin), so every tus
// request is cross-origin and Chromium enforces CORS on it.
//
//   node tus_cors.mjs <listed page URL> <unlisted page URL> <tus endpoint> <upload token>
//
// From each page: create an upload and send its first chunk, stop (as a page closed
// mid-way), then resume from the upload's URL (HEAD for the offset, PATCHes for the
// rest). The page whose origin the box lists must finish; the other must fail at the
// first request. Prints one JSON line with what each saw; exits non-zero on any
// failed expectation. tests/browser.rs runs it and checks the database afterwards.
import { chromium } from 'playwright-core';

const [listedPage, unlistedPage, endpoint, token] = process.argv.slice(2);
const fail = (msg) => { console.error(`tus_cors.mjs: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

// Runs in the page: the upload as a page would write it with tus-js-client's browser
// bundle (window.tus, loaded by the page from its own origin).
async function uploadInPage({ endpoint, token }) {
  const blob = await (await fetch('/photo.jpg')).blob();
  const chunkSize = 256;
  const common = {
    endpoint,
    headers: { Authorization: `Bearer ${token}` },
    metadata: { filename: 'from-a-page.jpg', filetype: 'image/jpeg' },
    chunkSize,
    retryDelays: [],
    storeFingerprintForResuming: false,
  };
  const first = await new Promise((resolve) => {
    const upload = new tus.Upload(blob, {
      ...common,
      onError: (e) => resolve({ ok: false, error: String(e) }),
      onChunkComplete: (_chunk, accepted) => {
        upload.abort(false).then(() => resolve({ ok: true, url: upload.url, stoppedAt: accepted }));
      },
      onSuccess: () => resolve({ ok: false, error: 'finished before it could be stopped' }),
    });
    upload.start();
  });
  if (!first.ok) return first;
  return await new Promise((resolve) => {
    let resumedTo = null;
    const upload = new tus.Upload(blob, {
      ...common,
      uploadUrl: first.url,
      onError: (e) => resolve({ ok: false, error: String(e), ...first }),
      onChunkComplete: (_chunk, accepted) => { if (resumedTo === null) resumedTo = accepted; },
      onSuccess: () => resolve({ ...first, ok: true, url: upload.url, resumedTo, size: blob.size }),
    });
    upload.start();
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const seen = {};
try {
  for (const [name, url] of [['listed', listedPage], ['unlisted', unlistedPage]]) {
    const page = await browser.newPage();
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    await page.goto(url);
    expect(await page.evaluate(() => typeof tus === 'object' && tus.isSupported), `${name}: tus-js-client loaded`);
    const result = await page.evaluate(uploadInPage, { endpoint, token });
    result.corsMessages = console_.filter((t) => t.includes('CORS policy'));
    seen[name] = result;
    await page.close();
  }
  const { listed, unlisted } = seen;
  expect(listed.ok, `the listed origin's upload failed: ${listed.error}`);
  expect(listed.url.startsWith(new URL(endpoint).origin + '/files/'), `upload URL ${listed.url}`);
  expect(listed.stoppedAt > 0 && listed.stoppedAt < listed.size, `stopped part-way: ${JSON.stringify(listed)}`);
  expect(listed.resumedTo === Math.min(listed.stoppedAt + 256, listed.size),
    `resumed from the offset HEAD gave, not from 0: ${JSON.stringify(listed)}`);
  expect(!unlisted.ok, 'the unlisted origin could upload');
  expect(/failed to create upload/.test(unlisted.error), `unlisted: ${unlisted.error}`);
  expect(unlisted.corsMessages.length > 0, `unlisted: Chromium reported no CORS refusal: ${JSON.stringify(unlisted)}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
