#!/usr/bin/python3
"""ftpcount.py - a tiny FTP control-connection proxy that logs every command.

    ftpcount.py LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT LOGFILE

Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to the upstream
server unchanged (only the control connection passes through here; data
connections go straight to the server: EPSV replies carry no address and PASV
replies carry the server's 127.0.0.1, which is also the proxy's address).

LOGFILE gets one line per event, flushed at once, so a reader can count events
between two moments by line numbers:
    <unix time> <conn> O                    new control connection
    <unix time> <conn> C <VERB>             a command (arguments are not logged)
    <unix time> <conn> R <code> <VERB>      the final reply to VERB (replies are matched
                                            to commands in order, so pipelined REST+RETR
                                            and ABOR's two replies are attributed right)
    <unix time> <conn> X                    connection closed
Prints "ready" on stdout once listening.
"""
import collections
import socket
import sys
import threading
import time

listen_port, up_host, up_port, logfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
log = open(logfile, "a", buffering=1)
lock = threading.Lock()
next_id = [0]


def emit(text):
    with lock:
        log.write("%.6f %s\n" % (time.time(), text))


def pump_commands(cid, src, dst, pending):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().split(b" ", 1)[0].decode("latin-1").upper() or "-"
                with lock:
                    pending.append(verb)
                emit("%d C %s" % (cid, verb))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pump_replies(cid, src, dst, pending):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                # final line of a reply: 3 digits and a space; 1xx is preliminary
                if len(line) >= 4 and line[:3].isdigit() and line[3:4] == b" " and line[:1] != b"1":
                    with lock:
                        verb = pending.popleft() if pending else "-"
                    emit("%d R %s %s" % (cid, line[:3].decode(), verb))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(cid, client):
    try:
        upstream = socket.create_connection((up_host, up_port))
    except OSError:
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    emit("%d O" % cid)
    pending = collections.deque()  # commands still waiting for their final reply
    t = threading.Thread(target=pump_replies, args=(cid, upstream, client, pending), daemon=True)
    t.start()
    pump_commands(cid, client, upstream, pending)
    t.join()
    client.close()
    upstream.close()
    emit("%d X" % cid)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(listen_port)))
    srv.listen(256)
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        next_id[0] += 1
        threading.Thread(target=handle, args=(next_id[0], client), daemon=True).start()


if __name__ == "__main__":
    main()
