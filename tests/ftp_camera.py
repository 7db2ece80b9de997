#!/usr/bin/env python3
"""Drives venuebox's FTP server with Python's ftplib the way cameras do.

    ftp_camera.py camera  HOST PORT USER PASS FILE        # MKD, STOR temp name, RNFR/RNTO, checks
    ftp_camera.py partial HOST PORT USER PASS FILE NAME N # send N bytes, then reset the data socket
    ftp_camera.py hostile HOST PORT USER PASS             # path traversal and bad names
    ftp_camera.py quit_mid_stor HOST PORT USER PASS FILE  # QUIT while the STOR data still flows
    ftp_camera.py auth_ssl HOST PORT USER PASS FILE CA    # explicit FTPS asked for with AUTH SSL
    ftp_camera.py steps HOST PORT USER PASS JSON          # a list of commands, each one's reply

Prints one JSON object on stdout; exits non-zero on an unexpected failure.
"""
import ftplib
import io
import json
import os
import socket
import struct
import sys
import time


def login(host, port, user, password):
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=20)
    ftp.login(user, password)
    ftp.set_pasv(True)
    return ftp


def camera(ftp, path):
    name = os.path.basename(path)
    ftp.mkd("/DCIM")
    ftp.mkd("/DCIM/100CANON")
    ftp.cwd("/DCIM/100CANON")
    with open(path, "rb") as f:
        ftp.storbinary(f"STOR {name}.tmp", f)
    ftp.rename(f"{name}.tmp", name)
    size = ftp.size(name)
    mdtm = ftp.sendcmd(f"MDTM {name}")
    names = ftp.nlst()
    mlsd = [entry for entry, _facts in ftp.mlsd()]
    ftp.cwd("/")
    listing = []
    ftp.retrlines("LIST /DCIM/100CANON", listing.append)
    # Delete one's own file: gone from the camera's tree (the photo stays on the box).
    with open(path, "rb") as f:
        ftp.storbinary("STOR /DCIM/extra.tmp", f)
    ftp.delete("/DCIM/extra.tmp")
    after_delete = ftp.nlst("/DCIM")
    ftp.quit()
    return {
        "size": size,
        "mdtm": mdtm,
        "nlst": names,
        "mlsd": mlsd,
        "list": listing,
        "after_delete": after_delete,
    }


def partial(ftp, path, name, count):
    with open(path, "rb") as f:
        data = f.read(int(count))
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd(f"STOR {name}")
    conn.sendall(data)
    # An abrupt reset, as when a camera walks out of Wi-Fi range: not a clean end.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    try:
        reply = ftp.getresp()
    except ftplib.Error as e:
        reply = str(e)
    return {"sent": len(data), "reply": reply}


def quit_mid_stor(ftp, path):
    """Sends QUIT on the control connection while the file is still going out on the
    data connection (as some camera firmware does), then the rest of the file, and
    returns every reply that follows, up to the server closing the connection."""
    with open(path, "rb") as f:
        data = f.read()
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR " + os.path.basename(path))
    half = len(data) // 2
    conn.sendall(data[:half])
    ftp.sock.sendall(b"QUIT\r\n")
    time.sleep(0.5)
    conn.sendall(data[half:])
    conn.close()
    replies = []
    try:
        while True:
            line = ftp.getline()
            if line[:3].isdigit() and line[3:4] == " ":
                replies.append(line)
    except (EOFError, OSError):
        pass
    return {"replies": replies}


def auth_ssl(host, port, user, password, path, ca):
    """Explicit FTPS as pre-RFC 4217 clients ask for it: `AUTH SSL` instead of `AUTH
    TLS`, then the same TLS handshake (ftplib's own `auth()` only sends AUTH TLS)."""
    import ssl

    context = ssl.create_default_context(cafile=ca)
    ftp = ftplib.FTP_TLS(context=context)
    ftp.connect(host, int(port), timeout=20)
    try:
        reply = ftp.sendcmd("AUTH SSL")
    except ftplib.Error as e:
        return {"auth": str(e)}
    ftp.sock = context.wrap_socket(ftp.sock, server_hostname=host)
    ftp.file = ftp.sock.makefile("r", encoding=ftp.encoding)
    ftp.login(user, password)
    ftp.prot_p()
    with open(path, "rb") as f:
        data = f.read()
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR " + os.path.basename(path))
    conn.sendall(data)
    # The end of the file is TLS's close_notify. libunftp closes the data connection
    # without sending its own, which storbinary's unwrap() takes for an error (curl
    # does not wait for it).
    try:
        conn.unwrap()
    except ssl.SSLEOFError:
        pass
    conn.close()
    stored = ftp.voidresp()
    ftp.quit()
    return {"auth": reply, "stor": stored}


def steps(ftp, plan):
    """Runs `plan`, a JSON list of commands, and returns each one's reply (or error):
    ["stor", NAME, FILE, N] stores the first N bytes of FILE (all of it if N is null)
    as NAME; ["rename", FROM, TO]; ["mkd", DIR]; ["nlst", DIR] (the names);
    ["retr", NAME] (the SHA-256 of what came back)."""
    import hashlib

    replies = []
    for step in json.loads(plan):
        op, args = step[0], step[1:]
        try:
            if op == "stor":
                name, path, count = args
                with open(path, "rb") as f:
                    data = f.read() if count is None else f.read(count)
                replies.append(ftp.storbinary("STOR " + name, io.BytesIO(data)))
            elif op == "rename":
                replies.append(ftp.rename(*args))
            elif op == "mkd":
                replies.append(ftp.mkd(*args))
            elif op == "nlst":
                replies.append(sorted(ftp.nlst(*args)))
            elif op == "retr":
                digest = hashlib.sha256()
                ftp.retrbinary("RETR " + args[0], digest.update)
                replies.append(digest.hexdigest())
            else:
                sys.exit(f"unknown step {op}")
        except ftplib.Error as e:
            replies.append(str(e))
        except OSError as e:
            # The server closed the data connection while the file was still going
            # out: record that, with the reply it sent on the control connection.
            try:
                reply = ftp.getresp()
            except ftplib.Error as refusal:
                reply = str(refusal)
            replies.append(f"{reply} (data connection: {e})")
    ftp.quit()
    return {"replies": replies}


def hostile(ftp):
    results = {}
    attempts = {
        "cwd_parent": lambda: ftp.cwd("../.."),
        "cwd_other_creator": lambda: ftp.cwd("/../1"),
        "mkd_parent": lambda: ftp.mkd("../escape"),
        "stor_parent": lambda: ftp.storbinary("STOR ../../escape.jpg", open(__file__, "rb")),
        "stor_absolute_escape": lambda: ftp.storbinary("STOR /../../../tmp/escape.jpg", open(__file__, "rb")),
        "stor_long_name": lambda: ftp.storbinary("STOR " + "a" * 4096 + ".jpg", open(__file__, "rb")),
        "stor_control_chars": lambda: ftp.storbinary("STOR bad\x01name.jpg", open(__file__, "rb")),
        "stor_not_a_photo": lambda: ftp.storbinary("STOR notes.jpg", open(__file__, "rb")),
        "retr_database": lambda: ftp.retrbinary("RETR ../../venuebox.db", lambda b: None),
        "dele_parent": lambda: ftp.delete("../../venuebox.db"),
        "rnfr_parent": lambda: ftp.rename("../../venuebox.db", "stolen.db"),
    }
    for key, attempt in attempts.items():
        try:
            results[key] = "ok: " + str(attempt())
        except ftplib.Error as e:
            results[key] = str(e)
        except (EOFError, OSError) as e:
            results[key] = "connection: " + str(e)
            ftp = None
            break
    try:
        results["pwd_after"] = ftp.pwd() if ftp else "closed"
        results["root_listing"] = ftp.nlst("/") if ftp else []
    except ftplib.Error as e:
        results["pwd_after"] = str(e)
    return results


def main():
    command, host, port, user, password, *rest = sys.argv[1:]
    if command == "auth_ssl":
        print(json.dumps(auth_ssl(host, port, user, password, rest[0], rest[1])))
        return
    ftp = login(host, port, user, password)
    if command == "camera":
        out = camera(ftp, rest[0])
    elif command == "partial":
        out = partial(ftp, rest[0], rest[1], rest[2])
    elif command == "hostile":
        out = hostile(ftp)
    elif command == "steps":
        out = steps(ftp, rest[0])
    elif command == "quit_mid_stor":
        out = quit_mid_stor(ftp, rest[0])
    else:
        sys.exit(f"unknown command {command}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
