#!/usr/bin/python3
"""bigdir_ftpd.py - a tiny FTP server whose one directory /big holds N synthetic entries.

For scripts/bench/listing_memory.sh: it measures what a listing of a very large directory
costs ftpfs in memory, and needs a server that lists a million entries at once without
a million files on disk. Nothing is stored: MLSD and LIST lines are generated while they
are sent, so the server's own memory stays small. Listens on 127.0.0.1 only.

  bigdir_ftpd.py --port P --entries N [--user U --password PW] [--no-mlsd]

/ holds one directory, `big`; /big holds N files named `file-NNNNNNNNNN.dat` (19 bytes),
sizes and dates varying. Commands: USER PASS SYST FEAT OPTS TYPE PWD CWD CDUP EPSV PASV
MLSD LIST NLST NOOP QUIT (anything else: 502). Passive mode only.
"""
import argparse
import socket
import threading

NAME = "file-%010d.dat"


def lines(kind, n):
    for i in range(n):
        size = (i * 7919) % 1000003
        day = 1 + i % 28
        if kind == "MLSD":
            yield ("type=file;size=%d;modify=202401%02d120000;UNIX.mode=0644; " + NAME + "\r\n") % (
                size, day, i)
        elif kind == "LIST":
            yield ("-rw-r--r--    1 ftp      ftp      %10d Jan %2d  2024 " + NAME + "\r\n") % (
                size, day, i)
        else:
            yield (NAME + "\r\n") % i


def serve(conn, args):
    f = conn.makefile("rb")
    cwd = "/"
    pasv = None

    def say(text):
        conn.sendall((text + "\r\n").encode())

    say("220 bigdir ready")
    while True:
        raw = f.readline()
        if not raw:
            break
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "USER":
            say("331 password please")
        elif verb == "PASS":
            say("230 ok" if arg == args.password else "530 no")
        elif verb == "SYST":
            say("215 UNIX Type: L8")
        elif verb == "FEAT":
            feats = ["EPSV", "UTF8", "REST STREAM"] + (["MLSD"] if args.mlsd else [])
            conn.sendall(("211-Features:\r\n" + "".join(" %s\r\n" % x for x in feats)
                          + "211 End\r\n").encode())
        elif verb in ("OPTS", "TYPE", "NOOP"):
            say("200 ok")
        elif verb == "PWD":
            say('257 "%s"' % cwd)
        elif verb in ("CWD", "CDUP"):
            target = "/" if verb == "CDUP" else (arg if arg.startswith("/") else cwd.rstrip("/") + "/" + arg)
            target = "/" + target.strip("/")
            if target in ("/", "/big"):
                cwd = target
                say("250 ok")
            else:
                say("550 no such directory")
        elif verb in ("EPSV", "PASV"):
            if pasv:
                pasv.close()
            pasv = socket.socket()
            pasv.bind(("127.0.0.1", 0))
            pasv.listen(1)
            port = pasv.getsockname()[1]
            if verb == "EPSV":
                say("229 Entering Extended Passive Mode (|||%d|)" % port)
            else:
                say("227 Entering Passive Mode (127,0,0,1,%d,%d)" % (port >> 8, port & 255))
        elif verb in ("MLSD", "LIST", "NLST"):
            if verb == "MLSD" and not args.mlsd:
                say("500 unknown command")
                continue
            path = arg if arg and not arg.startswith("-") else cwd
            path = "/" + path.strip("/")
            if pasv is None:
                say("425 use PASV first")
                continue
            say("150 here it comes")
            data, _ = pasv.accept()
            pasv.close()
            pasv = None
            try:
                if path == "/big":
                    buf = []
                    size = 0
                    for l in lines(verb, args.entries):
                        buf.append(l)
                        size += len(l)
                        if size >= 256 << 10:
                            data.sendall("".join(buf).encode())
                            buf, size = [], 0
                    data.sendall("".join(buf).encode())
                elif path == "/":
                    data.sendall({"MLSD": b"type=dir;modify=20240101000000; big\r\n",
                                  "LIST": b"drwxr-xr-x    2 ftp      ftp          4096 Jan  1  2024 big\r\n",
                                  "NLST": b"big\r\n"}[verb])
                data.close()
                say("226 done")
            except OSError:
                say("426 aborted")
        elif verb == "ABOR":
            say("225 ok")
        elif verb == "QUIT":
            say("221 bye")
            break
        else:
            say("502 not implemented")
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--user", default="bench")
    ap.add_argument("--password", default="bench")
    ap.add_argument("--no-mlsd", dest="mlsd", action="store_false")
    args = ap.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", args.port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, args), daemon=True).start()


if __name__ == "__main__":
    main()
