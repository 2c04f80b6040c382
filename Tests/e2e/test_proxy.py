"""An outbound proxy for the tests, on 127.0.0.1 port 0: HTTP (CONNECT tunnels and absolute-URI requests, with an
optional Basic login) or SOCKS5 (no login). Prints its port, then records every request it is asked to carry, one
JSON line each, in --log: {"method", "target", "proxy_authorization"}.

    python3 test_proxy.py --log FILE [--auth user:pass] [--socks5]
"""
import argparse
import base64
import json
import socket
import struct
import sys
import threading


def relay(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pipe(client, upstream):
    threading.Thread(target=relay, args=(upstream, client), daemon=True).start()
    relay(client, upstream)


class Proxy:
    def __init__(self, log, auth):
        self.log = log
        self.lock = threading.Lock()
        self.expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None

    def record(self, **entry):
        with self.lock, open(self.log, "a") as file:
            file.write(json.dumps(entry) + "\n")

    def http(self, client):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [line.split(":", 1) for line in lines[1:]]
        authorization = next((value.strip() for name, value in headers if name.lower() == "proxy-authorization"), None)
        self.record(method=method, target=target, proxy_authorization=authorization)
        if self.expected and authorization != self.expected:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)))
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            return pipe(client, upstream)
        if not target.startswith("http://"):
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        authority, _, path = target[len("http://"):].partition("/")
        host, _, port = authority.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port or 80)))
        kept = [f"{name}:{value}" for name, value in headers if name.lower() not in ("proxy-authorization", "connection")]
        request = [f"{method} /{path} {version}"] + kept + ["Connection: close", "", ""]
        upstream.sendall("\r\n".join(request).encode("latin-1") + rest)
        pipe(client, upstream)

    def socks5(self, client):
        def read(count):
            data = b""
            while len(data) < count:
                chunk = client.recv(count - len(data))
                if not chunk:
                    raise OSError("closed")
                data += chunk
            return data
        _, methods = read(2)
        read(methods)
        client.sendall(b"\x05\x00")
        _, command, _, kind = read(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, read(4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, read(16))
        else:
            host = read(read(1)[0]).decode()
        (port,) = struct.unpack("!H", read(2))
        self.record(method="SOCKS5", target=f"{host}:{port}", proxy_authorization=None)
        upstream = socket.create_connection((host, port))
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        pipe(client, upstream)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--auth")
    parser.add_argument("--socks5", action="store_true")
    arguments = parser.parse_args()
    proxy = Proxy(arguments.log, arguments.auth)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    print(server.getsockname()[1], flush=True)
    serve = proxy.socks5 if arguments.socks5 else proxy.http

    def handle(client):
        with client:
            try:
                serve(client)
            except OSError:
                pass

    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
