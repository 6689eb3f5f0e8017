"""A real Alertmanager (Debian's prometheus-alertmanager) for the tests, with the shipped
configuration changed only where a test must: its webhook receivers point at the test's own, and
its timers are seconds instead of minutes."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from shared.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
# a notification per change within a second; never a reminder during a test
TEST_TIMERS = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "24h"}


class WebhookReceiver:
    """Records every notification Alertmanager posts to it."""

    def __init__(self) -> None:
        self.notifications: list[dict] = []
        lock = self.lock = threading.Lock()
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict]:
        """Every alert of every notification, in the order received."""
        with self.lock:
            return [alert for n in self.notifications for alert in n["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Alertmanager:
    """prometheus-alertmanager on loopback; restartable on the same storage."""

    def __init__(self, work: Path, receiver_url: str, timers: dict[str, str] | None = TEST_TIMERS):
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            pytest.skip("Alertmanager is not installed (Debian package prometheus-alertmanager)")
        self.binary = binary
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load(CONFIG.read_text())
        config["route"].update(timers or {})
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = receiver_url
        self.config = work / "alertmanager.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Alertmanager:
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.path={self.work / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL,
            stderr=open(self.work / "alertmanager.log", "a"),  # noqa: SIM115
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.api("GET", "status")
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"Alertmanager did not start; see {self.work / 'alertmanager.log'}")

    def stop(self) -> None:
        """SIGTERM: Alertmanager writes its notification log and silences on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def api(self, method: str, path: str, body: object = None):
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}/api/v2/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def alerts(self) -> list[dict]:
        return self.api("GET", "alerts")

    def silence(self, label: str, value: str, hours: float = 2.0) -> str:
        now = datetime.now(tz=UTC)
        body = {
            "matchers": [{"name": label, "value": value, "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=hours)).isoformat(),
            "createdBy": "trustwatch tests",
            "comment": f"silence {label}={value}",
        }
        return self.api("POST", "silences", body)["silenceID"]
