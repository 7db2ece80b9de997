// Uploads a file to venuebox with the official tus-js-client, aborts part-way,
// then resumes from the stored upload URL, as a phone that lost Wi-Fi would.
//
//   node resume.mjs <endpoint> <upload token> <file> [override]
//
// With "override", every PATCH is sent as POST with X-HTTP-Method-Override: PATCH
// (tus-js-client's overridePatchMethod, for networks whose proxies block PATCH).
// Prints one JSON line: {"url": ..., "abortedAt": bytes, "resumedFrom": bytes}.
// Exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { Upload } from "tus-js-client";

const [endpoint, token, file, mode] = process.argv.slice(2);
if (!endpoint || !token || !file) {
  console.error("usage: node resume.mjs <endpoint> <token> <file>");
  process.exit(2);
}
const bytes = readFileSync(file);
const common = {
  endpoint,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: basename(file), filetype: "image/jpeg" },
  chunkSize: 64 * 1024,
  retryDelays: [100, 300, 1000],
  overridePatchMethod: mode === "override",
};

function fail(message) {
  console.error(message);
  process.exit(1);
}

// First attempt: abort once a third of the bytes are acknowledged.
const first = await new Promise((resolve) => {
  const upload = new Upload(bytes, {
    ...common,
    onError: (e) => fail(`first attempt failed: ${e}`),
    onChunkComplete: (_chunk, accepted, total) => {
      if (accepted >= total / 3 && accepted < total) {
        upload.abort(false).then(() => resolve({ url: upload.url, abortedAt: accepted }));
      }
    },
    onSuccess: () => fail("the first attempt finished; the file is too small to abort part-way"),
  });
  upload.start();
});

// Second attempt: a new Upload object resuming from the stored URL.
const result = await new Promise((resolve) => {
  let resumedFrom = null;
  const upload = new Upload(bytes, {
    ...common,
    uploadUrl: first.url,
    onError: (e) => fail(`resume failed: ${e}`),
    onProgress: (sent) => {
      if (resumedFrom === null) resumedFrom = sent;
    },
    onSuccess: () => resolve({ url: upload.url, abortedAt: first.abortedAt, resumedFrom }),
  });
  upload.start();
});
console.log(JSON.stringify(result));
