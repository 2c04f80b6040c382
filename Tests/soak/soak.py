"""Soak: runs the gateway binary for a while at moderate load and checks that nothing drifts.

Mixes chat, streams, failover (a provider answering 503 before a backup), quota exhaustion (a provider allowed a
few requests a minute), a reload every minute and clients that leave in the middle of a stream. Every 10 s it
samples the gateway's RSS and open file descriptors. At the end it prints the figures, compares the gateway's
usage counters with what the load generator saw served, and draws soak.png.

    python3 Tests/soak/soak.py --gateway .build/release/switchyard --minutes 60 --out /tmp/soak

Not part of CI (it takes an hour). Needs matplotlib for the plot (pip install matplotlib).
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "soak"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}


def chunk(content, finish=None):
    delta = {"content": content} if finish is None else {}
    return {"id": "s", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Upstream(BaseHTTPRequestHandler):
    """/ok/v1 answers, /busy/v1 answers 503; streams send 20 chunks 10 ms apart."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path.startswith("/busy/"):
            payload = b'{"error":{"message":"busy","type":"server_error"}}'
            self.send_response(503)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            events = [chunk(f"w{i} ") for i in range(20)] + [chunk("", "stop"),
                      {"id": "s", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25}}]
            try:
                for event in events:
                    data = f"data: {json.dumps(event)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    time.sleep(0.01)
                done = b"data: [DONE]\n\n"
                self.wfile.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        payload = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(upstream_port, quota):
    base = f"http://127.0.0.1:{upstream_port}"
    return {
        "_global": {"log_requests": True, "retry_backoff_ms": 1, "metrics_public": True},
        "chat": {"providers": [{"name": "ok", "endpoint": f"{base}/ok/v1", "model": "m", "timeout": 30}]},
        "failover": {"providers": [
            {"name": "busy", "endpoint": f"{base}/busy/v1", "model": "m", "retry": 1, "timeout": 30,
             "circuit_breaker": {"failure_threshold": 1000000}},
            {"name": "backup", "endpoint": f"{base}/ok/v1", "model": "m", "priority": 2, "timeout": 30}]},
        # A few requests a minute: most of this model's requests are refused with 429.
        "limited": {"providers": [{"name": "quota", "endpoint": f"{base}/ok/v1", "model": "m", "timeout": 30,
                                   "rate_limit": {"requests_per_period": quota, "period_cron": "* * * * *"}}]},
    }


class Load:
    """Counts what the gateway served, by provider (from X-Switchyard-Provider)."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.served = {}
        self.outcomes = {}
        self.stop = threading.Event()

    def count(self, outcome, provider=None):
        with self.lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if provider:
                self.served[provider] = self.served.get(provider, 0) + 1

    def request(self, model, stream=False, leave_early=False):
        body = json.dumps({"model": model, "stream": stream, "messages": [{"role": "user", "content": "soak"}]})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
            response = connection.getresponse()
            provider = response.getheader("x-switchyard-provider")
            if leave_early:
                response.read(200)  # the head and the first events, then the client goes away
                connection.sock.shutdown(socket.SHUT_RDWR)
                self.count("left mid-stream", provider if response.status == 200 else None)
                return
            data = response.read()
            if response.status == 200 and (not stream or b"data: [DONE]" in data):
                self.count(f"{model} {'stream' if stream else 'chat'} 200", provider)
            else:
                self.count(f"{model} {response.status}")
        except Exception as error:  # a load generator error is a finding, not a crash
            self.count(f"client error {type(error).__name__}")
        finally:
            connection.close()

    def worker(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            roll = rng.random()
            if roll < 0.45:
                self.request("chat")
            elif roll < 0.70:
                self.request("chat", stream=True)
            elif roll < 0.80:
                self.request("chat", stream=True, leave_early=True)
            elif roll < 0.92:
                self.request("failover")
            else:
                self.request("limited")
            time.sleep(rng.uniform(0.02, 0.08))


def sample(pid):
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--out", default="soak-out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config_file = os.path.join(args.out, "provider.json")
    with open(config_file, "w") as file:
        json.dump(config(upstream.server_address[1], 3), file)
    port = free_port()
    gateway = subprocess.Popen(
        [args.gateway, "serve", "--config", config_file, "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", os.path.join(args.out, "data"), "--log-dir", os.path.join(args.out, "logs")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)

    load = Load(port)
    workers = [threading.Thread(target=load.worker, args=(seed,), daemon=True) for seed in range(args.workers)]
    for worker in workers:
        worker.start()
    samples = []
    started = time.time()
    reloads = 0
    next_reload = started + 60
    while time.time() - started < args.minutes * 60:
        if gateway.poll() is not None:
            print(f"the gateway exited with {gateway.returncode}")
            break
        rss, fds = sample(gateway.pid)
        samples.append((time.time() - started, rss, fds))
        if time.time() >= next_reload:
            # Alternate the quota so each reload really changes the config (the watcher picks it up too).
            with open(config_file, "w") as file:
                json.dump(config(upstream.server_address[1], 3 + reloads % 2), file)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/admin/reload")
            reloads += connection.getresponse().status == 200
            connection.close()
            next_reload += 60
        time.sleep(10)
    load.stop.set()
    for worker in workers:
        worker.join(timeout=90)
    time.sleep(2)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/admin/stats")
    stats = json.loads(connection.getresponse().read())
    connection.request("GET", "/metrics")
    metrics = connection.getresponse().read().decode()
    connection.close()
    crashed = gateway.poll() is not None
    gateway.terminate()
    gateway.wait(timeout=60)

    warm = [s for s in samples if s[0] >= 300] or samples
    first, last = warm[0], warm[-1]
    drift = (last[1] - first[1]) / first[1] * 100
    counted = {"ok": stats["chat"]["ok"]["requests"], "backup": stats["failover"]["backup"]["requests"],
               "busy": stats["failover"]["busy"]["requests"]}
    gauges = {line.split()[0]: line.split()[1] for line in metrics.splitlines()
              if line.startswith(("switchyard_in_flight_requests ", "switchyard_open_streams "))}
    report = {
        "minutes": round(samples[-1][0] / 60, 1), "requests": sum(load.outcomes.values()), "outcomes": load.outcomes,
        "reloads": reloads, "crashed": crashed,
        "rss_mb": {"after_warm_up": round(first[1], 1), "end": round(last[1], 1), "max": round(max(s[1] for s in samples), 1),
                   "drift_percent": round(drift, 2)},
        "fds": {"min": min(s[2] for s in warm), "max": max(s[2] for s in warm), "end": last[2]},
        "served_by_provider": load.served, "gateway_counted": counted, "gauges_at_end": gauges,
        "usage_matches": counted["ok"] == load.served.get("ok", 0) and counted["backup"] == load.served.get("backup", 0)
                         and counted["busy"] == 0,
    }
    with open(os.path.join(args.out, "soak.json"), "w") as file:
        json.dump({"report": report, "samples": samples}, file, indent=1)
    print(json.dumps(report, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, rss_axis = plt.subplots(figsize=(9, 4))
        minutes = [s[0] / 60 for s in samples]
        rss_axis.plot(minutes, [s[1] for s in samples], color="tab:blue", label="RSS (MB)")
        rss_axis.set_xlabel("minutes")
        rss_axis.set_ylabel("RSS (MB)", color="tab:blue")
        rss_axis.set_ylim(bottom=0)
        fd_axis = rss_axis.twinx()
        fd_axis.plot(minutes, [s[2] for s in samples], color="tab:orange", label="open fds")
        fd_axis.set_ylabel("open file descriptors", color="tab:orange")
        fd_axis.set_ylim(bottom=0)
        plt.title(f"Switchyard soak: {report['requests']} requests, {reloads} reloads, RSS drift {report['rss_mb']['drift_percent']}%")
        figure.tight_layout()
        figure.savefig(os.path.join(args.out, "soak.png"), dpi=100)
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
    return 0 if report["usage_matches"] and not crashed and abs(drift) < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
