"""A File Storage server that misbehaves on purpose, for the tests of what counts as stored.

Usage: lying_server.py MODE[,MODE...] [--interval SECONDS]
Each upload (POST /v1/store/file?key=K) takes the next mode of the list; the last one repeats.
  ok          read the whole body, keep it, answer 200 {"key", "url", "size"} as the service does
  early       after the first MiB of the body, answer 200 claiming the whole size, and hang up
              (a proxy or server that answers before the body is sent)
  wrong-key   read the whole body, answer 200 naming the key "other/" + K
  wrong-size  read the whole body, answer 200 with a size one byte short
  hangup      read the whole body and hang up without an answer (a dead service behind a
              proxy that accepts connections)
  trickle     read the whole body, then send the status line and one header line every
              --interval seconds, never ending the headers
GET /_fake/requests lists every upload seen: {"mode", "key", "declared", "received",
"sha256", "closed_after"}; "stored" maps each key the server kept (mode ok) to its
{"size", "sha256"}. Keys are percent-decoded as bytes and shown with their UTF-8 intact.
Prints "listening on http://127.0.0.1:PORT" once it accepts connections.
Only the standard library: the tests need no third-party package for it.
"""
import hashlib
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse

EARLY_AFTER = 1 << 20

lock = threading.Lock()
requests = []  # guarded by lock
stored = {}  # key -> {"size", "sha256"}, guarded by lock
modes = []
next_mode = 0
interval = 3.0


def take_mode():
    global next_mode
    with lock:
        mode = modes[min(next_mode, len(modes) - 1)]
        next_mode += 1
        return mode


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def answer(conn, status, body):
    payload = json.dumps(body).encode()
    conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % (status, len(payload)) + payload)


def handle(conn):
    try:
        head, rest = read_head(conn)
        if head is None:
            return
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path, _, query = target.partition("?")
        if method == "GET" and path == "/_fake/requests":
            with lock:
                answer(conn, 200, {"requests": requests, "stored": stored})
            return
        if method != "POST" or not path.endswith("/v1/store/file"):
            answer(conn, 404, {"message": "Route not found", "error": "not_found"})
            return
        key = None
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "key":
                key = urllib.parse.unquote_to_bytes(value).decode("utf-8", "surrogateescape")
        declared = int(headers.get("content-length", "0"))
        mode = take_mode()
        limit = min(declared, EARLY_AFTER) if mode == "early" else declared
        hasher = hashlib.sha256()
        received = 0
        data = rest
        while True:
            piece = data[: limit - received]
            hasher.update(piece)
            received += len(piece)
            if received >= limit:
                break
            data = conn.recv(65536)
            if not data:
                break
        record = {"mode": mode, "key": key, "declared": declared, "received": received,
                  "sha256": hasher.hexdigest(), "closed_after": None}
        with lock:
            requests.append(record)
        url = "http://127.0.0.1/v1/store/file/read/" + urllib.parse.quote(key or "")
        if mode == "ok" and received == declared:
            with lock:
                stored[key] = {"size": received, "sha256": hasher.hexdigest()}
            answer(conn, 200, {"key": key, "url": url, "size": received})
        elif mode == "early":
            answer(conn, 200, {"key": key, "url": url, "size": declared})
            conn.shutdown(socket.SHUT_RDWR)
        elif mode == "wrong-key":
            answer(conn, 200, {"key": "other/" + key, "url": url, "size": received})
        elif mode == "wrong-size":
            answer(conn, 200, {"key": key, "url": url, "size": received - 1})
        elif mode == "hangup":
            conn.shutdown(socket.SHUT_RDWR)
        elif mode == "trickle":
            started = time.monotonic()
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            n = 0
            try:
                while True:
                    time.sleep(interval)
                    n += 1
                    conn.sendall(b"X-Trickle-%d: still here\r\n" % n)
            except OSError:
                with lock:
                    record["closed_after"] = time.monotonic() - started
        else:
            answer(conn, 500, {"message": "unknown mode " + mode, "error": "internal"})
    except OSError:
        pass
    finally:
        conn.close()


def main():
    global modes, interval
    # The test process ignores SIGTERM and ignored signals survive exec: take the default back,
    # so the test's terminate() ends this server instead of waiting on it for ever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A blocked mask is inherited too (the Swift test process blocks most signals): unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    modes = sys.argv[1].split(",")
    if "--interval" in sys.argv:
        interval = float(sys.argv[sys.argv.index("--interval") + 1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print("listening on http://127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
