// The phone and laptop uploader's script (src/web/uploader.rs serves it; the page is
// GET /vendor/upload). Each chosen file is sent to the box's tus server (/files/) with
// tus-js-client (assets/tus-js-client/), authenticated by the vendor session cookie
// (same origin only). tus-js-client keeps each upload's URL in localStorage under a
// fingerprint of the file (name, type, size, modification time), so:
//   - a dropped connection is retried with growing delays, continuing from the
//     offset the box reports (HEAD);
//   - after a reload, choosing the same file again continues it; the page lists the
//     unfinished ones it remembers.
// The preview: the page polls GET /vendor/upload/<key> about once a second and shows
// the image it names (the camera's embedded preview while the upload arrives, then
// the rendered thumbnail).
'use strict';
(function () {
  var root = document.getElementById('uploader');
  var picker = document.getElementById('pick');
  var list = document.getElementById('files');
  if (!root || !picker || !list || !window.tus || !tus.isSupported) return;
  var endpoint = root.getAttribute('data-endpoint');
  var statusBase = root.getAttribute('data-status');
  var t = JSON.parse(root.getAttribute('data-texts'));
  var POLL_MS = 1000;
  // Retries for a dropped connection: quickly at first, then every 30 s for about
  // ten minutes; any progress starts the count again (tus-js-client).
  var RETRY = [0, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 20000, 20000];
  for (var i = 0; i < 16; i++) RETRY.push(30000);
  // One request per MiB: the box fsyncs and records each, so the bar's "on the box"
  // is what a dropped connection or a reload cannot lose, and a half-open connection
  // on venue Wi-Fi holds at most one chunk hostage.
  var CHUNK = 1048576;
  var rows = [];

  function size(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MB';
    return Math.max(1, Math.round(n / 1024)) + ' KB';
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function Row(file) {
    this.file = file;
    this.li = el('li');
    this.img = el('img');
    this.img.alt = '';
    this.img.width = 96;
    this.img.height = 72;
    var meta = el('div', 'meta');
    this.name = el('div', 'name', file.name);
    this.bar = el('progress');
    this.bar.max = 1;
    this.bar.value = 0;
    this.state = el('div', 'state', t.waiting);
    meta.appendChild(this.name);
    meta.appendChild(this.bar);
    meta.appendChild(this.state);
    this.li.appendChild(this.img);
    this.li.appendChild(meta);
    this.li.setAttribute('data-state', 'waiting');
    list.appendChild(this.li);
    this.key = null;
    this.polling = null;
    this.finished = false;
    this.resumedFrom = null;
    this.resuming = false;
    this.upload = null;
  }

  Row.prototype.say = function (text, kind) {
    this.state.textContent = text;
    this.state.className = 'state' + (kind ? ' ' + kind : '');
  };

  Row.prototype.mark = function (state) {
    this.li.setAttribute('data-state', state);
  };

  Row.prototype.start = function () {
    var row = this;
    var file = row.file;
    row.upload = new tus.Upload(file, {
      endpoint: endpoint,
      retryDelays: RETRY,
      chunkSize: CHUNK,
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onUploadUrlAvailable: function () {
        row.key = row.upload.url.split('/').pop();
        row.li.setAttribute('data-key', row.key);
        row.poll();
      },
      onProgress: function (sent, total) {
        if (row.resuming) {
          // The first progress of a resumed upload starts at the box's offset.
          row.resuming = false;
          row.resumedFrom = sent;
          row.li.setAttribute('data-resumed-from', String(sent));
        }
        row.bar.max = total;
        row.bar.value = sent;
        row.mark('sending');
        var text = t.sending + ' · ' + size(sent) + ' ' + t.of + ' ' + size(total);
        if (row.resumedFrom) text += ' · ' + t.resumed + ' ' + size(row.resumedFrom);
        row.say(text);
      },
      onChunkComplete: function (chunk, accepted) {
        row.li.setAttribute('data-accepted', String(accepted));
      },
      onShouldRetry: function (err, attempt) {
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        var retry = status === 0 || status === 409 || status === 423 || status >= 500;
        if (retry) {
          row.mark('retrying');
          row.li.setAttribute('data-retries', String(attempt + 1));
          row.say(navigator.onLine === false ? t.offline : t.retrying, 'bad');
        }
        return retry;
      },
      onError: function (err) {
        var msg = '';
        if (err.originalResponse) msg = (err.originalResponse.getBody() || '').trim();
        row.mark('error');
        row.say(t.failed + (msg ? ': ' + msg : ''), 'bad');
        var again = el('button', '', t.retry);
        again.type = 'button';
        again.onclick = function () { again.remove(); row.go(); };
        row.state.appendChild(document.createTextNode(' '));
        row.state.appendChild(again);
      },
      onSuccess: function () {
        row.bar.value = row.bar.max;
        row.mark('stored');
        row.say(t.stored);
        row.poll();
        forget(row.upload.url);
      },
    });
    row.go();
  };

  // Starts (or starts again) the upload, from where the box has it when this browser
  // remembers an earlier attempt at the same file.
  Row.prototype.go = function () {
    var row = this;
    row.upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        row.upload.resumeFromPreviousUpload(previous[0]);
        row.resuming = true;
      }
      row.upload.start();
    });
  };

  Row.prototype.poll = function () {
    var row = this;
    if (row.polling || row.finished || !row.key) return;
    row.polling = setTimeout(function () {
      row.polling = null;
      fetch(statusBase + encodeURIComponent(row.key), { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) { if (s) row.show(s); })
        .catch(function () {})
        .then(function () { row.poll(); });
    }, POLL_MS);
  };

  Row.prototype.show = function (s) {
    if (s.preview && this.img.getAttribute('src') !== s.preview) {
      this.img.src = s.preview;
      this.li.setAttribute('data-preview', s.preview);
    }
    if (s.photo) this.li.setAttribute('data-photo', String(s.photo));
    if (s.state === 'done') {
      this.finished = true;
      this.mark('done');
      this.say(t.ready, 'good');
    } else if (s.state === 'failed' || s.state === 'raw') {
      this.finished = true;
      this.mark(s.state);
      this.say(t.stored + (s.reason ? ' · ' + s.reason : ''));
    } else if (s.state === 'stored') {
      this.say(t.rendering);
    }
  };

  picker.addEventListener('change', function () {
    var files = Array.prototype.slice.call(picker.files || []);
    picker.value = '';
    files.forEach(function (file) {
      var row = new Row(file);
      rows.push(row);
      row.start();
    });
    showUnfinished();
  });

  // Back online: uploads that were waiting for a retry go at once.
  window.addEventListener('online', function () {
    rows.forEach(function (row) {
      var state = row.li.getAttribute('data-state');
      if (row.upload && (state === 'retrying' || state === 'error')) {
        row.upload.abort().then(function () { row.go(); });
      }
    });
  });

  // Drops every remembered entry of a finished upload: tus-js-client removes the one
  // it resumed from, but an attempt before a reload may have left another.
  function forget(url) {
    var storage = tus.defaultOptions && tus.defaultOptions.urlStorage;
    if (!storage || !storage.findAllUploads) return;
    storage.findAllUploads().then(function (all) {
      return Promise.all(all.filter(function (u) { return u.uploadUrl === url; })
        .map(function (u) { return storage.removeUpload(u.urlStorageKey); }));
    }).catch(function () {}).then(showUnfinished);
  }

  // The uploads this browser started and did not finish (after a reload): the user
  // chooses those files again to continue them.
  function showUnfinished() {
    var box = document.getElementById('unfinished');
    var storage = tus.defaultOptions && tus.defaultOptions.urlStorage;
    if (!box || !storage || !storage.findAllUploads) return;
    storage.findAllUploads().then(function (all) {
      var names = {};
      rows.forEach(function (r) { names[r.file.name + '/' + r.file.size] = true; });
      var open = all.filter(function (u) {
        var name = u.metadata && u.metadata.filename;
        return name && !names[name + '/' + u.size];
      });
      var ul = box.querySelector('ul');
      ul.textContent = '';
      open.forEach(function (u) {
        ul.appendChild(el('li', '', u.metadata.filename + ' (' + size(u.size) + ')'));
      });
      box.hidden = open.length === 0;
    }).catch(function () {});
  }

  picker.disabled = false;
  showUnfinished();
})();
