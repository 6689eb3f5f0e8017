"""A webhook receiver for Alertmanager that prints each notification: the compose stack's default
receiver, so that a notification is seen before Slack or e-mail is set up."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def notification_lines(payload: dict[str, Any]) -> list[str]:
    """One line per alert of an Alertmanager webhook notification (version 4).

    >>> notification_lines({"alerts": [{"status": "firing", "labels": {"alertname": "X",
    ...     "problem": "DRIFT:tenure"}, "annotations": {"summary": "tenure drifted"}}]})
    ['FIRING X DRIFT:tenure: tenure drifted']
    """
    lines = []
    for alert in payload.get("alerts", []):
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        name = " ".join(filter(None, (labels.get("alertname"), labels.get("problem"))))
        lines.append(f"{alert.get('status', '?').upper()} {name}: {annotations.get('summary', '')}")
    return lines


def serve(host: str, port: int, on_line: Callable[[str], None]) -> None:
    """Receive notifications on ``host:port`` until interrupted."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                lines = notification_lines(json.loads(body))
            except (ValueError, AttributeError):
                self.send_response(400)
                self.end_headers()
                return
            for line in lines:
                on_line(line)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # the lines above are the log
            pass

    with ThreadingHTTPServer((host, port), Receiver) as server:
        server.serve_forever()
