# Real servers for the checker tests: `python3 http_servers.py FLAG PORT:MODE...`. Binds
# $KLBIND (default 127.0.0.1); with $KLCOUNT, each accepted connection appends a line to
# $KLCOUNT/PORT; "ready" is created there once every port listens.
import socket, sys, threading, time, os
BODY = b"hello from the real server\n"
BIND = os.environ.get("KLBIND", "127.0.0.1")
COUNT = os.environ.get("KLCOUNT")
def reply(c, port, mode):
    if COUNT:
        with open(os.path.join(COUNT, str(port)), "a") as f: f.write("c\n")
    c.settimeout(30)
    if mode.startswith("tls"):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["KLCERT"], os.environ["KLKEY"])
        c = ctx.wrap_socket(c, server_side=True)
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d: return
        req += d
    if mode == "silent":
        time.sleep(30); return
    if mode == "flip":
        mode = "500" if os.path.exists(sys.argv[1]) else "ok"
    if mode == "ok":
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY)
    elif mode == "500":
        c.sendall(b"HTTP/1.0 500 Internal Server Error\r\n\r\nbroken\n")
    elif mode == "drip":
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        while True:
            c.sendall(b"x"); time.sleep(0.1)
    elif mode == "endless":
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        while True: c.sendall(b"y" * 65536)
    elif mode == "chunked":
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (BODY[:5], BODY[5:]):
            c.sendall(b"%x\r\n%s\r\n" % (len(part), part)); time.sleep(0.05)
        c.sendall(b"0\r\n\r\n")
    elif mode == "tls":
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + BODY)
        c.unwrap()
    elif mode == "garbage":
        c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    elif mode == "bigheaders":
        c.sendall(b"HTTP/1.0 200 OK\r\n")
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        for _ in range(1024): c.sendall(line)
        c.sendall(b"\r\n")
    elif mode == "slowloris":
        c.sendall(b"HTTP/1.0 200 OK\r\n")
        while True:
            c.sendall(b"X-Slow: 1\r\n"); time.sleep(0.2)
LISTENING = []
LOCK = threading.Lock()
def listening(port):
    with LOCK:
        LISTENING.append(port)
        if COUNT and len(LISTENING) == len(sys.argv) - 2:
            open(os.path.join(COUNT, "ready"), "w").close()
def serve(port, mode):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((BIND, port))
    if mode == "full":
        s.listen(0)
        held = [socket.socket() for _ in range(3)]
        for h in held:
            h.setblocking(False); h.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)
        ready = socket.socket(); ready.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ready.bind((BIND, port + 1000)); ready.listen(8); listening(port)
        while True: ready.accept()[0].close()
    s.listen(64); listening(port)
    while True:
        c, _ = s.accept()
        def run(c=c):
            try: reply(c, port, mode)
            except OSError: pass
            finally: c.close()
        threading.Thread(target=run, daemon=True).start()
for a in sys.argv[2:]:
    p, m = a.split(":")
    threading.Thread(target=serve, args=(int(p), m), daemon=True).start()
while True: time.sleep(3600)
