#!/usr/bin/env python3
"""Crash soak (issue 18, items 1 and 2): kills and power cuts at random instants, and
what must survive.

    python3 tests/soak.py [--rounds N] [--bin PATH] [--seed S] [--round-secs A,B]
                          [--power-loss [lazy|strict|mixed]] [--keep] [--json FILE]

Each round starts `venuebox run` (the binary given, default target/debug/venuebox) on
a data dir carried over from the last round, runs a mixed workload against it, and
kills it with SIGKILL:

  workload  tus uploads in chunks (curl-free: http.client, as tus-js-client does) and
            the resumption of the ones a kill interrupted; FTP uploads (ftplib, STOR);
            attendees through the captive portal (consent, pass), tagged by the admin
            API; gallery, "my photos", thumbs and admin previews; consent changes on
            /portal/me (sync and gallery, granted and withdrawn); orders placed by
            attendees, confirmed or given free by the vendor through the API, and
            their links downloaded until used up (links of earlier rounds are tried
            again); sync to a real single-node Garage (sync/now every second; the box
            also cuts every 3 photos or 2 s), reached through a loopback proxy that
            sees each S3 request.
  the kill  per round, a uniform instant over the round with probability 0.4, else a
            commit point chosen at random: right after a tus upload's last PATCH is
            acknowledged (204), right after an FTP STOR's 226, while a sync PUT to
            Garage is in flight (0-30 ms after the proxy sees its first bytes), right
            after a vendor's confirmation (200), right after a link download's 200
            headers, right after a consent change (303). A commit point not reached
            by the end of the round falls back to the round's end (counted apart).
            In-flight operations at each kill are counted per phase.
  checks    with the box down (Python's sqlite3 on the data dir, read-only):
            every acknowledged photo has its row and a file whose SHA-256 is its name;
            every photo row's file is whole (no half-present photo) and no file under
            photos/ is torn; PRAGMA integrity_check and foreign_key_check; the outbox
            (bundles 1..n without gaps; a bundle marked uploaded has every object done;
            a manifest done only after its bundle's other objects; no conflicts; each
            manifest's bytes hash to its row and chain to the previous one; no asset
            published twice without a tombstone between); the bucket against the
            outbox (every object marked done is there with the right bytes, nothing
            there that the outbox does not name, no object whose bytes differ from
            the outbox's); `venuebox bundle verify s3://...` when the outbox is
            drained (at most every 10th round: it hashes the whole bucket); links (uses <= uses_allowed, `ok` downloads <= uses_allowed, and
            every 200 a client saw counted by the box).
            After the restart, before any workload: no temporary file (incoming/,
            FTP partials, `*.tmp-*`, `sync-sent/*.part`, tus files of no upload,
            prepared sync files no pending asset needs); every interrupted tus upload
            answers HEAD with an offset at least what was acknowledged.
  the end   one more start without a kill: the outbox is drained (sync/now until no
            object is pending), the box stopped with SIGTERM, and `bundle verify`
            must pass.
  power     with --power-loss, the data dir is a mount of tests/powerfs.py over
            <work>/disk (a fresh mount each round): writes the box never fsynced stay
            in the layer's memory. At the kill: SIGKILL, wait for the box to end,
            then the cut (the layer drops every unsynced byte; with the strict model
            also every name change whose directory was never fsynced), unmount, and
            the same checks on <work>/disk, what a disk holds after the power comes
            back. Names: lazy (as LazyFS: durable at once), strict, or mixed (either,
            at random per round; the default). The CLI's setup is cut too, and the
            end's clean stop is followed by a cut. Needs root, /dev/fuse and
            python3-pyfuse3 (tests/run.sh installs it). Without --power-loss (the
            default) the kill is SIGKILL alone: the page cache survives it.

Prints a line per round and a summary (rounds, kill points per phase, acknowledged
photos lost, integrity failures, bucket anomalies, link over-use, temp files left);
exits 1 when any invariant failed. Needs python3, garage (tests/run.sh installs it)
and the shared test data (VENUEBOX_TESTDATA, default ../shared/testdata).
"""

import argparse
import base64
import collections
import datetime
import ftplib
import functools
import hashlib
import hmac
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from powercut import PowerMount  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_CODE = "soak-admin-code-" + secrets.token_hex(8)
BUCKET, PREFIX, REGION = "soak", "soak", "garage"
# Phones: 127.0.0.8/29 is the attendee network; the vendor and admin use 127.0.0.1.
PHONES = [f"127.0.0.{n}" for n in range(9, 15)]
SCOPES = ["gallery", "receive", "sync"]
PHASES = [
    "tus-create", "tus-patch", "tus-resume", "ftp-stor", "portal", "tag", "order",
    "confirm", "download", "consent", "browse", "sync-put",
]


def log(msg):
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# --- S3 (SigV4, path style) for Garage ----------------------------------------------

class S3:
    def __init__(self, endpoint, key_id, secret):
        self.host = endpoint.split("://", 1)[1]
        self.key_id, self.secret = key_id, secret

    def request(self, method, path, query=None):
        query = query or {}
        now = datetime.datetime.now(datetime.timezone.utc)
        amz = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz[:8]
        canon_q = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(query.items()))
        canon_path = urllib.parse.quote(path, safe="/-_.~")
        payload = hashlib.sha256(b"").hexdigest()
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": amz}
        signed = ";".join(sorted(headers))
        canon = "\n".join([method, canon_path, canon_q,
                           "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                           signed, payload])
        scope = f"{day}/{REGION}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                             hashlib.sha256(canon.encode()).hexdigest()])
        k = ("AWS4" + self.secret).encode()
        for part in (day, REGION, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={sig}")
        conn = http.client.HTTPConnection(self.host, timeout=30)
        conn.request(method, canon_path + ("?" + canon_q if canon_q else ""), headers=headers)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, body

    def list(self, prefix):
        """{key: (size, etag)} of every object under prefix."""
        out, token = {}, None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            status, body = self.request("GET", f"/{BUCKET}", q)
            if status != 200:
                raise RuntimeError(f"S3 list: {status} {body[:300]!r}")
            root = ET.fromstring(body)
            ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
            for c in root.findall(f"{ns}Contents"):
                out[c.find(f"{ns}Key").text] = (int(c.find(f"{ns}Size").text),
                                                c.find(f"{ns}ETag").text)
            if root.findtext(f"{ns}IsTruncated") == "true":
                token = root.findtext(f"{ns}NextContinuationToken")
            else:
                return out

    def get(self, key):
        status, body = self.request("GET", f"/{BUCKET}/{key}")
        if status != 200:
            raise RuntimeError(f"S3 get {key}: {status}")
        return body


# --- Garage and the proxy the box syncs through -------------------------------------

def garage_bin():
    for d in os.environ.get("PATH", "").split(os.pathsep) + [
            os.path.join(os.environ.get("CARGO_HOME", ""), "bin"),
            os.path.expanduser("~/.cargo/bin")]:
        p = os.path.join(d, "garage")
        if d and os.path.isfile(p):
            return p
    sys.exit("soak: garage not found on PATH or in ~/.cargo/bin "
             "(tests/run.sh installs it: cargo install garage --locked)")


class Garage:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "garage")
        os.makedirs(self.dir)
        rpc, s3 = free_port(), free_port()
        self.conf = os.path.join(self.dir, "garage.toml")
        with open(self.conf, "w") as f:
            f.write(f'metadata_dir = "{self.dir}/meta"\ndata_dir = "{self.dir}/data"\n'
                    f'db_engine = "sqlite"\nreplication_factor = 1\n'
                    f'rpc_bind_addr = "127.0.0.1:{rpc}"\nrpc_public_addr = "127.0.0.1:{rpc}"\n'
                    f'rpc_secret = "{secrets.token_hex(32)}"\n[s3_api]\n'
                    f's3_region = "{REGION}"\napi_bind_addr = "127.0.0.1:{s3}"\n')
        self.bin = garage_bin()
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "server"],
                                     env=dict(os.environ, RUST_LOG="warn"),
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = s3
        node = self.cli("node", "id", "-q").strip().split("@")[0]
        self.cli("layout", "assign", "-z", "dc1", "-c", "1G", node)
        self.cli("layout", "apply", "--version", "1")
        self.cli("bucket", "create", BUCKET)
        key = self.cli("key", "create", "soak")
        field = lambda name: next(l.split(":", 1)[1].strip() for l in key.splitlines()
                                  if l.startswith(name))
        self.key_id, self.secret = field("Key ID:"), field("Secret key:")
        self.cli("bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "soak")

    def cli(self, *args):
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([self.bin, "-c", self.conf, *args], capture_output=True,
                               text=True)
            if r.returncode == 0:
                return r.stdout
            if time.monotonic() > deadline:
                sys.exit(f"soak: garage {args} failed: {r.stderr}")
            time.sleep(0.2)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Proxy:
    """Loopback TCP proxy between the box and Garage; tells when a PUT is in flight."""

    def __init__(self, upstream, on_put):
        self.upstream, self.on_put = upstream, on_put
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.puts = 0  # PUTs in flight (first bytes seen, no answer yet)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            s = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            c.close()
            return
        state = {"put": False}

        def up():
            try:
                while data := c.recv(65536):
                    if data.startswith(b"PUT ") and not state["put"]:
                        state["put"] = True
                        with self.lock:
                            self.puts += 1
                        self.on_put()
                    s.sendall(data)
            except OSError:
                pass
            finally:
                for x in (s, c):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        def down():
            try:
                while data := s.recv(65536):
                    if data.startswith(b"HTTP/") and state["put"]:
                        state["put"] = False
                        with self.lock:
                            self.puts -= 1
                    c.sendall(data)
            except OSError:
                pass
            finally:
                if state["put"]:
                    with self.lock:
                        self.puts -= 1
                    state["put"] = False

        t = threading.Thread(target=up, daemon=True)
        t.start()
        down()
        t.join()
        c.close()
        s.close()


# --- HTTP clients ---------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def text(self):
        return self.body.decode("utf-8", "replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Client:
    """A phone or laptop: its own loopback source address and cookie jar."""

    def __init__(self, base, source="127.0.0.1"):
        self.base = base
        jar = urllib.request.HTTPCookieProcessor()

        class Src(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(functools.partial(http.client.HTTPConnection,
                                                      source_address=(source, 0)), req)
        self.opener = urllib.request.build_opener(Src(), jar, NoRedirect())

    def req(self, method, path, body=None, headers=None, form=None, js=None, timeout=10,
            on_headers=None):
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if js is not None:
            body = json.dumps(js).encode()
            headers["Content-Type"] = "application/json"
        r = urllib.request.Request(self.base + path, data=body, headers=headers,
                                   method=method)
        try:
            resp = self.opener.open(r, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e
        if on_headers:
            on_headers(resp.status if hasattr(resp, "status") else resp.code)
        status = resp.status if hasattr(resp, "status") else resp.code
        return Response(status, resp.headers, resp.read())


def whole_image(b):
    """A whole JPEG (SOI to EOI) or WebP (RIFF size covering the file)."""
    if b[:2] == b"\xff\xd8":
        return b[-2:] == b"\xff\xd9"
    return (len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP"
            and int.from_bytes(b[4:8], "little") + 8 == len(b))


def hidden(page, name):
    marker = f'name="{name}" value="'
    i = page.find(marker)
    if i < 0:
        raise RuntimeError(f"no {name} in page")
    return page[i + len(marker):].split('"', 1)[0]


# --- the soak -------------------------------------------------------------------------

class Stop(Exception):
    pass


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="venuebox-soak-")
        self.data = os.path.join(self.tmp, "data")
        # What the checks read: the data dir itself, or with --power-loss the disk
        # under the layer, looked at after the cut and the unmount.
        self.disk = os.path.join(self.tmp, "disk") if args.power_loss else self.data
        self.mount = None
        self.models = collections.Counter()  # power-loss: mounts per name model
        self.forced_unmounts = 0
        self.cuts = collections.Counter()    # power-loss: what the cuts dropped, summed
        self.bin = os.path.abspath(args.bin)
        # What the driver knows across rounds.
        self.acked = {}            # sha -> (source, round)
        self.attempted = set()     # shas sent but not (yet) acknowledged
        self.tus_open = []         # [location, sha, bytes, acked_offset]
        self.tus_busy = set()      # ids of the entries a worker is sending
        self.photo_ids = []        # acknowledged photo ids (for tags, orders, browsing)
        self.attendees = []        # {"phone": Client-address, "client": Client, "pass": code}
        self.links = {}            # link path -> {"photo": id, "ok_seen": n}
        self.counter = 0
        # Figures.
        self.kills_by_trigger = collections.Counter()
        self.kills_in_flight = collections.Counter()
        self.failures = collections.defaultdict(list)  # class -> messages
        self.ops = collections.Counter()
        self.verify_runs = 0
        self.temp_before = []
        self.temp_seen = 0
        self.sha_cache = {}
        self.last_verify = -10
        self.lost = 0
        self.load_corpus()

    def fail(self, cls, msg):
        self.failures[cls].append(msg)
        log(f"FAIL {cls}: {msg}")

    def load_corpus(self):
        base = os.environ.get("VENUEBOX_TESTDATA") or os.path.join(ROOT, "..", "shared",
                                                                    "testdata")
        photos = os.path.join(base, "photos")
        if not os.path.isdir(photos):
            sys.exit(f"soak: no test data at {photos} (set VENUEBOX_TESTDATA)")
        self.corpus = []
        for n in sorted(os.listdir(photos)):
            if n.lower().endswith((".jpg", ".jpeg")):
                b = open(os.path.join(photos, n), "rb").read()
                if len(b) <= 1_300_000 and b[:2] == b"\xff\xd8":
                    self.corpus.append((n, b))
        if len(self.corpus) < 10:
            sys.exit(f"soak: only {len(self.corpus)} JPEGs in {photos}")

    def variant(self):
        """A corpus JPEG made unique by a COM segment after SOI: a new photo each time."""
        name, b = self.rng.choice(self.corpus)
        self.counter += 1
        note = f"venuebox soak {self.args.seed} {self.counter}".encode()
        com = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
        return f"soak{self.counter:05d}-{name}", b[:2] + com + b[2:]

    # --- the box ---
    def env(self):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("VENUEBOX_"):
                del e[k]
        e.update({
            "VENUEBOX_ADMIN_TOKEN": ADMIN_CODE,
            "VENUEBOX_MDNS__ENABLED": "false",
            "VENUEBOX_INGEST__FREE_DISK_RESERVE_BYTES": str(16 << 20),
            "VENUEBOX_PORTAL__ATTENDEE_NETWORKS": '["127.0.0.8/29"]',
            "VENUEBOX_SYNC__TARGET": "s3",
            "VENUEBOX_SYNC__ENDPOINT": f"http://127.0.0.1:{self.proxy.port}",
            "VENUEBOX_SYNC__REGION": REGION,
            "VENUEBOX_SYNC__BUCKET": BUCKET,
            "VENUEBOX_SYNC__PREFIX": PREFIX,
            "VENUEBOX_SYNC__ACCESS_KEY_ID": self.garage.key_id,
            "VENUEBOX_SYNC__SECRET_ACCESS_KEY": self.garage.secret,
            "VENUEBOX_SYNC__CUT_EVERY_PHOTOS": "3",
            "VENUEBOX_SYNC__CUT_EVERY_SECS": "2",
            "VENUEBOX_SYNC__PROBE_MIN_BACKOFF_MS": "200",
            "VENUEBOX_SYNC__PROBE_MAX_BACKOFF_MS": "1000",
            "VENUEBOX_LOG": "warn",
        })
        return e

    def cli(self, *args):
        r = subprocess.run([self.bin, "--data-dir", self.data, *args], env=self.env(),
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"soak: venuebox {args}: {r.stderr}")
        return r.stdout

    def mount_layer(self):
        """--power-loss: serves the disk at the data dir through tests/powerfs.py,
        with the round's model of names (mixed: lazy or strict at random)."""
        model = self.args.power_loss
        if model == "mixed":
            model = self.rng.choice(["lazy", "strict"])
        self.models[model] += 1
        self.mount_model = model
        self.mount = PowerMount(self.disk, self.data, strict=model == "strict",
                                log=open(os.path.join(self.tmp, "powerfs.log"), "a"))

    def cut_power(self):
        """--power-loss: the layer drops every unsynced byte (and, strict, every name
        change whose directory was never fsynced). The box is already dead."""
        report = self.mount.cut(unmount=False)
        for k in ("dropped_files", "dropped_bytes", "undone", "fsyncs", "dir_fsyncs"):
            self.cuts[k] += report[k]
        if report["undo_errors"]:
            self.fail("integrity", f"round {self.round}: the layer could not undo "
                                   f"{report['undo_errors'][:3]}")
        self.last_cut = report

    def unmount_layer(self):
        self.mount.unmount()
        if self.mount.forced:
            self.forced_unmounts += 1
            log(f"round {self.round}: the layer was unmounted by force: "
                f"{self.mount.forced}")
        self.mount = None

    def start(self):
        if self.args.power_loss:
            self.mount_layer()
        self.http, self.ftp = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http}"
        self.boxlog = open(os.path.join(self.tmp, "box.log"), "a")
        self.box = subprocess.Popen(
            [self.bin, "--data-dir", self.data, "run", "--http", f"127.0.0.1:{self.http}",
             "--ftp", f"127.0.0.1:{self.ftp}"],
            env=self.env(), stdout=self.boxlog, stderr=self.boxlog)
        deadline = time.monotonic() + 60
        while True:
            if self.box.poll() is not None:
                sys.exit(f"soak: the box exited with {self.box.returncode} at start "
                         f"(log: {self.boxlog.name})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=2)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                socket.create_connection(("127.0.0.1", self.ftp), timeout=2).close()
                if ok:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("soak: the box did not come up within 60 s")
            time.sleep(0.05)
        self.admin = Client(self.base)
        r = self.admin.req("POST", "/api/admin/login", js={"code": ADMIN_CODE})
        if r.status != 200:
            sys.exit(f"soak: admin login: {r.status} {r.text()}")
        self.admin_token = json.loads(r.body)["token"]
        if not getattr(self, "box_id", None):
            self.box_id = json.loads(self.cli("keys", "show", "--json"))["box_id"]
        for a in self.attendees:
            a["client"].base = self.base

    def kill(self):
        self.box.send_signal(signal.SIGKILL)
        self.box.wait()
        self.boxlog.close()
        if self.args.power_loss:
            self.cut_power()

    # --- workload ---
    def setup(self):
        os.makedirs(self.data)
        if self.args.power_loss:
            self.mount_layer()
        self.cli("creator", "add", "Soak Camera")
        self.vendor = self.cli("creator", "add", "Soak Phone").strip().splitlines()[-1]
        out = self.cli("creator", "ftp", "Soak Camera").strip().splitlines()
        self.ftp_user = next(l.split(": ", 1)[1] for l in out if l.startswith("FTP user: "))
        self.ftp_password = out[-1]
        if self.args.power_loss:
            # What the CLI said it did must outlive a cut right after it exited.
            self.cut_power()
            self.unmount_layer()

    def phase(self, name):
        soak = self

        class P:
            def __enter__(self):
                with soak.lock:
                    soak.in_flight[name] += 1

            def __exit__(self, *exc):
                with soak.lock:
                    soak.in_flight[name] -= 1
        return P()

    def fire(self, event):
        ev = self.events.get(event)
        if ev:
            ev.set()

    def alive(self):
        if self.stopped.is_set():
            raise Stop()

    def worker(self, fn):
        def run():
            while not self.stopped.is_set():
                try:
                    fn()
                    self.ops[fn.__name__] += 1
                except Stop:
                    return
                except (OSError, http.client.HTTPException, ftplib.Error, EOFError,
                        urllib.error.URLError):
                    if self.stopped.is_set():
                        return
                    time.sleep(0.05)
                except Exception as e:  # a workload step the box refused unexpectedly
                    if self.stopped.is_set():
                        return
                    self.workload_errors[f"{fn.__name__}: {e}"[:160]] += 1
                    time.sleep(0.1)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def tus_headers(self, extra=None):
        h = {"Authorization": f"Bearer {self.vendor}", "Tus-Resumable": "1.0.0"}
        h.update(extra or {})
        return h

    def tus_send(self, entry, phase):
        location, sha, data, _ = entry
        c = Client(self.base)
        with self.phase(phase):
            r = c.req("HEAD", location, headers=self.tus_headers())
        if r.status != 200:
            raise RuntimeError(f"HEAD {location}: {r.status}")
        offset = int(r.headers["Upload-Offset"])
        if offset < entry[3]:
            self.fail("acknowledged_lost",
                      f"tus {location}: offset {offset} < acknowledged {entry[3]}")
        entry[3] = max(entry[3], offset)
        while offset < len(data):
            self.alive()
            chunk = data[offset:offset + self.rng.choice([32768, 65536, 131072])]
            with self.phase(phase):
                r = c.req("PATCH", location, body=chunk, headers=self.tus_headers({
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset)}))
            if r.status != 204:
                raise RuntimeError(f"PATCH {location}: {r.status}")
            offset += len(chunk)
            entry[3] = offset
            if offset == len(data):
                self.ack(sha, "tus")
                self.tus_open.remove(entry)
                self.fire("tus-ack")
                return
            time.sleep(self.rng.uniform(0, 0.02))

    def ack(self, sha, source):
        self.acked.setdefault(sha, (source, self.round))
        self.attempted.discard(sha)

    def w_tus(self):
        idle = [e for e in self.tus_open if id(e) not in self.tus_busy]
        if idle and self.rng.random() < 0.5:
            entry = self.rng.choice(idle)
            self.tus_busy.add(id(entry))
            try:
                self.tus_send(entry, "tus-resume")
            finally:
                self.tus_busy.discard(id(entry))
            return
        time.sleep(self.rng.uniform(0, 0.3))
        name, data = self.variant()
        sha = sha256(data)
        c = Client(self.base)
        self.attempted.add(sha)
        meta = "filename " + base64.b64encode(name.encode()).decode()
        with self.phase("tus-create"):
            r = c.req("POST", "/files/", headers=self.tus_headers({
                "Upload-Length": str(len(data)), "Upload-Metadata": meta}))
        if r.status != 201:
            raise RuntimeError(f"tus create: {r.status}")
        entry = [urllib.parse.urlparse(r.headers["Location"]).path, sha, data, 0]
        self.tus_busy.add(id(entry))
        self.tus_open.append(entry)
        try:
            self.tus_send(entry, "tus-patch")
        finally:
            self.tus_busy.discard(id(entry))

    def w_ftp(self):
        time.sleep(self.rng.uniform(0, 0.3))
        name, data = self.variant()
        sha = sha256(data)
        self.attempted.add(sha)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.ftp, timeout=10)
        try:
            ftp.login(self.ftp_user, self.ftp_password)
            import io

            def slow(_):
                self.alive()
                time.sleep(self.rng.uniform(0, 0.01))
            with self.phase("ftp-stor"):
                resp = ftp.storbinary(f"STOR {name}", io.BytesIO(data), 32768, slow)
            if resp.startswith("226"):
                self.ack(sha, "ftp")
                self.fire("ftp-ack")
        finally:
            try:
                ftp.close()
            except OSError:
                pass

    def known_photos(self):
        """Ids of acknowledged photos (read from the db: the box is the writer)."""
        try:
            db = sqlite3.connect(f"file:{self.data}/venuebox.db?mode=ro", uri=True,
                                 timeout=5)
            rows = db.execute("SELECT id, sha256 FROM photos").fetchall()
            db.close()
        except sqlite3.Error:
            return []
        return [i for i, s in rows if s in self.acked]

    def w_delivery(self):
        self.alive()
        # A new attendee now and then (a fresh phone: its own cookie jar).
        if len(self.attendees) < 3 or self.rng.random() < 0.2:
            src = self.rng.choice(PHONES)
            c = Client(self.base, src)
            with self.phase("portal"):
                page = c.req("GET", "/portal").text()
                form = [("csrf", hidden(page, "csrf")), ("action", "accept")]
                form += [(s, "yes") for s in SCOPES if self.rng.random() < 0.7]
                r = c.req("POST", "/portal/consent", form=form)
                if r.status != 303:
                    raise RuntimeError(f"consent: {r.status}")
                p = c.req("GET", "/portal/pass").text()
            marker = '<code class="pass">'
            code = p[p.index(marker) + len(marker):].split("<", 1)[0]
            self.attendees.append({"client": c, "pass": code})
        a = self.rng.choice(self.attendees)
        ids = self.known_photos()
        if not ids:
            time.sleep(0.2)
            return
        photo = self.rng.choice(ids)
        with self.phase("tag"):
            r = self.admin.req("PUT", f"/api/admin/photos/{photo}/attendees",
                               headers={"Authorization": f"Bearer {self.admin_token}"},
                               js={"passes": [a["pass"]]})
        if r.status != 204:
            raise RuntimeError(f"tag: {r.status} {r.text()[:100]}")
        self.alive()
        c = a["client"]
        with self.phase("order"):
            page = c.req("GET", "/portal/mine").text()
            r = c.req("POST", "/portal/orders",
                      form=[("csrf", hidden(page, "csrf")), ("photo", str(photo))])
        if r.status != 303:
            raise RuntimeError(f"order: {r.status} {r.text()[:100]}")
        vendor = {"Authorization": f"Bearer {self.vendor}"}
        orders = json.loads(self.admin.req("GET", "/api/vendor/orders?state=pending",
                                           headers=vendor).body)
        if not orders:
            return
        order = self.rng.choice(orders)
        action = "confirm" if self.rng.random() < 0.8 else "free"
        with self.phase("confirm"):
            r = self.admin.req("POST", f"/api/vendor/orders/{order['id']}/{action}",
                               headers=vendor)
        if r.status != 200:
            raise RuntimeError(f"{action}: {r.status} {r.text()[:100]}")
        self.fire("confirm")
        link = json.loads(r.body).get("link")
        if link:
            path = link[link.index("/portal/d/"):]
            self.links[path] = {"photos": order["photos"], "ok_seen": 0}
        self.w_download()

    def w_download(self):
        if not self.links:
            return
        path = self.rng.choice(list(self.links))
        link = self.links[path]
        for _ in range(self.rng.randint(1, 4)):
            self.alive()
            # A photo of the order, or the whole order as one ZIP (one use either way).
            photo = "zip" if self.rng.random() < 0.25 else self.rng.choice(link["photos"])

            def seen(status):
                if status == 200:
                    link["ok_seen"] += 1
                    self.fire("download")
            with self.phase("download"):
                Client(self.base).req("GET", f"{path}/{photo}", on_headers=seen, timeout=20)

    def w_consent(self):
        if not self.attendees:
            time.sleep(0.2)
            return
        a = self.rng.choice(self.attendees)
        c = a["client"]
        with self.phase("consent"):
            page = c.req("GET", "/portal/me").text()
            r = c.req("POST", "/portal/me/scope", form=[
                ("csrf", hidden(page, "csrf")), ("scope", self.rng.choice(["sync", "gallery"])),
                ("granted", self.rng.choice(["yes", "no"]))])
        if r.status != 303:
            raise RuntimeError(f"scope: {r.status}")
        self.fire("consent")
        time.sleep(self.rng.uniform(0.1, 0.4))

    def w_browse(self):
        admin = {"Authorization": f"Bearer {self.admin_token}"}
        with self.phase("browse"):
            if self.attendees:
                c = self.rng.choice(self.attendees)["client"]
                c.req("GET", self.rng.choice(["/portal/gallery", "/portal/mine",
                                              "/portal/orders"]))
            ids = self.known_photos()
            if ids:
                d = self.rng.choice(["thumb", "preview", "watermarked", "full"])
                photo = self.rng.choice(ids)
                r = self.admin.req("GET", f"/photos/{photo}/{d}", headers=admin)
                if (self.args.power_loss and r.status == 200 and d != "full"
                        and not whole_image(r.body)):
                    # A derivative is written without fsync (it can be made again):
                    # after a cut the box must notice it is not whole, not serve it.
                    self.fail("half_present", f"round {self.round}: /photos/{photo}/{d} "
                                              f"served {len(r.body)} bytes, not whole")
            self.admin.req("GET", "/api/admin/sync", headers=admin)
        time.sleep(self.rng.uniform(0.05, 0.2))

    def w_sync(self):
        self.admin.req("POST", "/api/admin/sync/now",
                       headers={"Authorization": f"Bearer {self.admin_token}"})
        time.sleep(1)

    def on_put(self):
        self.fire("sync-put")

    # --- a round ---
    def run_round(self):
        self.round += 1
        self.start()
        self.check_after_restart()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = collections.Counter()
        self.workload_errors = collections.Counter()
        duration = self.rng.uniform(*self.args.round_secs)
        triggers = ["tus-ack", "ftp-ack", "sync-put", "confirm", "download", "consent"]
        target = None if self.rng.random() < 0.4 else self.rng.choice(triggers)
        self.events = {t: threading.Event() for t in triggers}
        threads = [self.worker(f) for f in (self.w_tus, self.w_tus, self.w_ftp,
                                            self.w_delivery, self.w_consent,
                                            self.w_browse, self.w_sync)]
        t0 = time.monotonic()
        if target is None:
            time.sleep(duration)
            trigger = "uniform"
        else:
            # Commit points only count once the round has run a little.
            time.sleep(min(duration, self.rng.uniform(0.2, 1.0)))
            self.events[target].clear()
            if self.events[target].wait(max(0.0, duration - (time.monotonic() - t0))):
                time.sleep(self.rng.uniform(0, 0.03 if target == "sync-put" else 0.005))
                trigger = target
            else:
                trigger = f"{target} (not reached: round end)"
        with self.lock:
            flight = {k for k, v in self.in_flight.items() if v > 0}
        if self.proxy.puts > 0:
            flight.add("sync-put")
        self.kill()
        self.stopped.set()
        elapsed = time.monotonic() - t0
        for t in threads:
            t.join(timeout=15)
        if self.args.power_loss:
            self.unmount_layer()  # the workers may have read through it until now
        self.kills_by_trigger[trigger] += 1
        for p in flight:
            self.kills_in_flight[p] += 1
        before = sum(len(v) for v in self.failures.values())
        self.check_down()
        bad = sum(len(v) for v in self.failures.values()) - before
        errs = sum(self.workload_errors.values())
        log(f"round {self.round}: killed at {elapsed:.2f}s by {trigger}; in flight: "
            f"{','.join(sorted(flight)) or '-'}; acknowledged {len(self.acked)}, "
            f"tus open {len(self.tus_open)}, links {len(self.links)}; "
            + (f"cut ({self.mount_model}) dropped {self.last_cut['dropped_bytes']} B in "
               f"{self.last_cut['dropped_files']} files, undid {self.last_cut['undone']} "
               "name changes; " if self.args.power_loss else "")
            + f"{'ok' if bad == 0 else f'{bad} FAILURES'}"
            + (f"; workload refusals {dict(self.workload_errors)}" if errs else ""))

    # --- checks ---
    def db(self, live=False):
        """The box's database as the checks see it (the disk, with --power-loss), or
        `live`, as the running box sees it (through the layer)."""
        d = self.data if live else self.disk
        return sqlite3.connect(f"file:{d}/venuebox.db?mode=ro", uri=True)

    def files_under(self, d):
        out = []
        for root, _, files in os.walk(d):
            out += [os.path.join(root, f) for f in files]
        return out

    def temp_files(self):
        """Temporary files in the data dir (looked at while the box is down): each must
        be gone once the next start is up."""
        d = self.disk
        found = []
        for root, _, files in os.walk(d):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), d)
                if ".tmp-" in f or f.startswith(".vbx-") or f.endswith(".part"):
                    found.append(rel)
                elif rel.startswith("incoming/"):
                    found.append(rel)
        db = self.db()
        uploads = {r[0] for r in db.execute("SELECT id FROM uploads")}
        for f in self.files_under(os.path.join(d, "uploads")):
            if os.path.basename(f) not in uploads:
                found.append(os.path.relpath(f, d))
        pending = {r[0] for r in db.execute(
            "SELECT sha256 FROM sync_objects WHERE kind = 'asset' AND state <> 'done'")}
        for f in self.files_under(os.path.join(d, "sync-sent")):
            if os.path.basename(f) not in pending:
                found.append(os.path.relpath(f, d))
        db.close()
        return found

    def check_after_restart(self):
        """Right after a start, before any workload: the temporary files the kill left
        are gone, and every interrupted tus upload kept its acknowledged bytes."""
        # Swept at start, some by the workers as they start (sync's prepared files):
        # allowed 5 s.
        deadline = time.monotonic() + 5
        while True:
            left = [r for r in self.temp_before if os.path.exists(os.path.join(self.data, r))]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for rel in left:
            self.fail("temp_files", f"round {self.round}: {rel} survived the restart")
        incoming = os.listdir(os.path.join(self.data, "incoming"))
        if len(incoming) != 1:
            self.fail("temp_files", f"round {self.round}: incoming/ holds {incoming}")
        for entry in list(self.tus_open):
            r = Client(self.base).req("HEAD", entry[0], headers=self.tus_headers())
            if r.status != 200:
                if entry[3] > 0:
                    self.fail("acknowledged_lost",
                              f"tus {entry[0]} with {entry[3]} acknowledged bytes: {r.status}")
                self.tus_open.remove(entry)
                continue
            off = int(r.headers["Upload-Offset"])
            if off < entry[3]:
                self.fail("acknowledged_lost",
                          f"tus {entry[0]}: offset {off} < acknowledged {entry[3]}")

    def file_sha(self, path):
        """SHA-256 of a file, cached by (path, size, mtime, inode): stored photos never
        change in place, and a rewrite changes the key."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in self.sha_cache:
            with open(path, "rb") as f:
                self.sha_cache[key] = sha256(f.read())
        return self.sha_cache[key]

    def check_down(self):
        try:
            self.check_disk()
        except sqlite3.DatabaseError as e:
            # A database without its tables (commits that were never fsynced, lost to
            # a power cut) or unreadable: everything acknowledged is lost with it.
            self.fail("integrity", f"round {self.round}: the database: {e}")
            for sha, (source, rnd) in self.acked.items():
                self.fail("acknowledged_lost", f"round {self.round}: {source} photo of "
                                               f"round {rnd} {sha[:12]}: no database")
            self.temp_before = []

    def check_disk(self):
        d = self.disk
        db = self.db()
        q = lambda sql, *a: db.execute(sql, a).fetchall()
        # SQLite.
        ic = q("PRAGMA integrity_check")
        if ic != [("ok",)]:
            self.fail("integrity", f"round {self.round}: integrity_check {ic[:5]}")
        fk = q("PRAGMA foreign_key_check")
        if fk:
            self.fail("integrity", f"round {self.round}: foreign_key_check {fk[:5]}")
        # Photos.
        rows = dict(q("SELECT sha256, id FROM photos"))
        photo_dir = os.path.join(d, "photos", "sha256")

        def whole(sha):
            return self.file_sha(os.path.join(photo_dir, sha[:2], sha)) == sha
        for sha, (source, rnd) in self.acked.items():
            if sha not in rows or not whole(sha):
                self.lost += 1
                self.fail("acknowledged_lost",
                          f"round {self.round}: {source} photo of round {rnd} {sha[:12]} "
                          f"{'row' if sha in rows else 'no row'}")
        for sha in rows:
            if not whole(sha):
                self.fail("half_present", f"round {self.round}: photo {sha[:12]} torn")
        for f in self.files_under(photo_dir):
            name = os.path.basename(f)
            if name not in rows and self.file_sha(f) != name:
                self.fail("half_present", f"round {self.round}: torn file {name[:12]}")
        for sha in self.attempted:
            if sha in rows and not whole(sha):
                self.fail("half_present", f"round {self.round}: unacknowledged {sha[:12]}")
        # Links: never more uses than allowed, and every 200 a client saw is counted.
        for lid, token, allowed, uses in q(
                "SELECT id, token, uses_allowed, uses FROM delivery_links"):
            ok = q("SELECT count(*) FROM delivery_downloads WHERE link_id = ? "
                   "AND outcome = 'ok'", lid)[0][0]
            if uses > allowed or ok > allowed:
                self.fail("link_overuse", f"link {lid}: uses {uses}, ok {ok} > {allowed}")
            for path, seen in self.links.items():
                if path.split("/")[3] == token and seen["ok_seen"] > max(uses, 0):
                    if seen["ok_seen"] > allowed:
                        self.fail("link_overuse",
                                  f"link {lid}: clients got {seen['ok_seen']} > {allowed}")
                    else:
                        self.fail("link_overuse",
                                  f"link {lid}: clients got {seen['ok_seen']} downloads, "
                                  f"the box counted {uses}")
        self.check_outbox(db, q)
        db.close()
        self.temp_before = self.temp_files()
        self.temp_seen += len(self.temp_before)

    def check_outbox(self, db, q):
        bundles = q("SELECT sequence, sha256, uploaded_at FROM sync_bundles ORDER BY sequence")
        seqs = [b[0] for b in bundles]
        if seqs != list(range(1, len(seqs) + 1)):
            self.fail("outbox", f"bundle sequences {seqs[:10]}... have gaps")
        objects = {k: (kind, bundle, sha, size, body, state) for k, bundle, kind, sha, size,
                   body, state in q("SELECT key, bundle, kind, sha256, size, body, state "
                                    "FROM sync_objects")}
        by_bundle = collections.defaultdict(list)
        for k, o in objects.items():
            by_bundle[o[1]].append((k, o))
            if o[5] == "conflict":
                self.fail("bucket", f"conflict on {k}")
        previous = None
        published = {}
        for seq, digest, uploaded in bundles:
            objs = by_bundle.get(seq, [])
            if uploaded is not None and any(o[5] != "done" for _, o in objs):
                self.fail("outbox", f"bundle {seq} marked uploaded with objects pending")
            if uploaded is None and objs and all(o[5] == "done" for _, o in objs):
                self.fail("outbox", f"bundle {seq}: every object done, not marked uploaded")
            mkey = f"boxes/{self.box_id}/bundles/{seq:012d}.json"
            if mkey not in objects:
                self.fail("outbox", f"bundle {seq}: no manifest object")
                continue
            m = objects[mkey]
            if m[5] == "done" and any(o[5] != "done" for k, o in objs if k != mkey):
                self.fail("outbox", f"bundle {seq}: manifest done before its objects")
            if sha256(m[4]) != digest:
                self.fail("outbox", f"bundle {seq}: manifest bytes do not hash to its row")
            manifest = json.loads(m[4])
            if manifest.get("previous") != previous:
                self.fail("outbox", f"bundle {seq}: previous does not chain")
            previous = sha256(m[4])
            for e in manifest.get("entries", []):
                if e.get("type") == "asset":
                    if published.get(e["sha256"]):
                        self.fail("bucket", f"bundle {seq}: asset {e['sha256'][:12]} "
                                            "published twice without a tombstone")
                    published[e["sha256"]] = True
                elif e.get("type") == "tombstone" and e.get("target") == "asset":
                    published[e["id"]] = False
        # The bucket against the outbox.
        listed = self.s3.list(PREFIX + "/")
        for full, (size, etag) in listed.items():
            key = full[len(PREFIX) + 1:]
            o = objects.get(key)
            if o is None:
                self.fail("bucket", f"object {key} that the outbox does not name")
                continue
            if size != o[3]:
                self.fail("bucket", f"{key}: {size} bytes, the outbox says {o[3]}")
                continue
            if self.seen_etags.get(key) == etag:
                continue
            body = self.s3.get(full)
            good = sha256(body) == o[2] if o[0] == "asset" else body == o[4]
            if not good:
                self.fail("bucket", f"{key}: bytes differ from the outbox's")
            else:
                self.seen_etags[key] = etag
        for key, o in objects.items():
            if o[5] == "done" and f"{PREFIX}/{key}" not in listed:
                self.fail("bucket", f"{key} marked done, missing from the bucket")
        drained = all(o[5] == "done" for o in objects.values()) and all(
            b[2] is not None for b in bundles)
        # `bundle verify` hashes every asset in the bucket: whenever the outbox is
        # drained, at most every 10th round (and always at the end).
        if drained and bundles and self.round - self.last_verify >= 10:
            self.last_verify = self.round
            self.verify()

    def verify(self):
        self.verify_runs += 1
        r = subprocess.run(
            [self.bin, "bundle", "verify", f"s3://{BUCKET}/{PREFIX}", "--box-id",
             self.box_id, "--endpoint", f"http://127.0.0.1:{self.garage.port}"],
            env=dict(self.env(), AWS_ACCESS_KEY_ID=self.garage.key_id,
                     AWS_SECRET_ACCESS_KEY=self.garage.secret, AWS_REGION=REGION),
            capture_output=True, text=True)
        if r.returncode != 0:
            self.fail("bucket", f"round {self.round}: bundle verify: "
                                f"{(r.stdout + r.stderr).strip()[-600:]}")

    def final(self):
        """One more start without a kill: drain the outbox, stop, verify."""
        self.start()
        self.check_after_restart()
        deadline = time.monotonic() + 120
        admin = {"Authorization": f"Bearer {self.admin_token}"}
        while time.monotonic() < deadline:
            self.admin.req("POST", "/api/admin/sync/now", headers=admin)
            time.sleep(1)
            s = json.loads(self.admin.req("GET", "/api/admin/sync", headers=admin).body)
            db = self.db(live=True)
            pending = db.execute("SELECT count(*) FROM sync_objects WHERE state <> 'done'"
                                 ).fetchone()[0]
            db.close()
            if pending == 0 and s.get("uplink") == "up":
                break
        else:
            self.fail("bucket", "the outbox did not drain within 120 s")
        self.box.send_signal(signal.SIGTERM)
        try:
            self.box.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("integrity", "the box did not stop within 30 s of SIGTERM")
            self.box.kill()
            self.box.wait()
        self.boxlog.close()
        if self.args.power_loss:
            # A clean stop, then the power goes: nothing may be left unsynced.
            self.cut_power()
            self.unmount_layer()
        before = self.verify_runs
        self.check_down()
        if self.verify_runs == before:
            self.verify()

    def main(self):
        log(f"seed {self.args.seed}, {self.args.rounds} rounds, binary {self.bin}, "
            f"work dir {self.tmp}")
        self.garage = Garage(self.tmp)
        self.s3 = S3(f"http://127.0.0.1:{self.garage.port}", self.garage.key_id,
                     self.garage.secret)
        self.seen_etags = {}
        self.proxy = Proxy(self.garage.port, self.on_put)
        self.round = 0
        t0 = time.monotonic()
        try:
            self.setup()
            for _ in range(self.args.rounds):
                self.run_round()
            self.final()
        finally:
            if getattr(self, "box", None) and self.box.poll() is None:
                self.box.kill()
                self.box.wait()
            try:
                if self.mount is not None:
                    if self.mount.proc.poll() is None:
                        self.mount.cut(unmount=False)
                    self.mount.unmount()
            finally:
                self.garage.stop()
        return self.summary(time.monotonic() - t0)

    def summary(self, secs):
        f = self.failures
        s = {
            "rounds": self.round,
            "seconds": round(secs, 1),
            "seed": self.args.seed,
            "kills_by_trigger": dict(sorted(self.kills_by_trigger.items())),
            "kills_in_flight_by_phase": {p: self.kills_in_flight.get(p, 0) for p in PHASES},
            "acknowledged_photos": len(self.acked),
            "acknowledged_by_source": dict(collections.Counter(v[0] for v in
                                                               self.acked.values())),
            "links_issued": len(self.links),
            "link_downloads_seen": sum(v["ok_seen"] for v in self.links.values()),
            "bundle_verify_runs": self.verify_runs,
            "acknowledged_photos_lost": len(f["acknowledged_lost"]),
            "half_present_photos": len(f["half_present"]),
            "integrity_failures": len(f["integrity"]),
            "outbox_inconsistencies": len(f["outbox"]),
            "bucket_anomalies": len(f["bucket"]),
            "link_overuse": len(f["link_overuse"]),
            "temp_files_after_kills": self.temp_seen,
            "temp_files_left_after_restart": len(f["temp_files"]),
            "workload_ops": dict(self.ops),
            "power_loss": ({"mounts_by_model": dict(self.models), **self.cuts,
                            "forced_unmounts": self.forced_unmounts}
                           if self.args.power_loss else None),
            "failures": {k: v[:10] for k, v in f.items() if v},
        }
        print(json.dumps(s, indent=2))
        if self.args.json:
            with open(self.args.json, "w") as out:
                json.dump(s, out, indent=2)
        failed = sum(len(v) for v in f.values())
        if self.round and not self.acked:
            print("soak: no upload was acknowledged: the workload did not run", file=sys.stderr)
            failed += 1
        if failed:
            print(f"soak: FAILED ({failed} invariant failures; work dir kept: {self.tmp})",
                  file=sys.stderr)
            return 1
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"soak: passed, {self.round} rounds", file=sys.stderr)
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=int(os.environ.get("SOAK_ROUNDS", 15)))
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "venuebox"))
    p.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED",
                                                                  secrets.randbelow(10**6))))
    p.add_argument("--round-secs", default="1.5,6",
                   type=lambda s: tuple(float(x) for x in s.split(",")),
                   help="a round lasts uniformly between A and B seconds (default 1.5,6)")
    p.add_argument("--power-loss", nargs="?", const="mixed",
                   choices=["lazy", "strict", "mixed"],
                   help="serve the data dir through tests/powerfs.py and drop its "
                        "unsynced writes at each kill (names: lazy = durable at once, "
                        "strict = once their directory is fsynced, mixed = either, at "
                        "random per round; the default when no model is named)")
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    p.add_argument("--json", help="also write the summary to FILE")
    args = p.parse_args()
    if args.rounds < 1:
        sys.exit("soak: --rounds must be at least 1")
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"soak: no venuebox binary at {args.bin} (cargo build --bin venuebox)")
    if args.power_loss and os.environ.get("VENUEBOX_SOAK_MOUNT_NS") != str(os.getpid()):
        # The layer's mounts live in a mount namespace of the soak's own, so that a
        # namespace another program makes meanwhile (unshare -m, systemd-nspawn) does
        # not copy them and keep them alive past their unmount.
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                               "sh", "-c", 'VENUEBOX_SOAK_MOUNT_NS=$$ exec "$0" "$@"',
                               sys.executable, *sys.argv],
                   os.environ)
    sys.exit(Soak(args).main())


if __name__ == "__main__":
    main()
