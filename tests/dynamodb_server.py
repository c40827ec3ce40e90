"""A real DynamoDB wire server for tests: moto's standalone server in a subprocess on a free port.

Use the session fixture in a test module with ``from tests import dynamodb_server`` and
``dynamodb_endpoint = dynamodb_server.dynamodb_endpoint`` (or ``pytest_plugins = ["tests.dynamodb_server"]``
in the root conftest), or a ``LocalDynamoDB`` of your own for fault tests: ``stop()`` then ``start()``
keeps the port, but a restarted moto keeps nothing, so create the table again after it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

READY_TIMEOUT_SECONDS = 15.0
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalDynamoDB:
    """``moto_server`` on 127.0.0.1; the port stays the same across ``stop()`` and ``start()``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        # A file, not a pipe: moto logs every request, and a full pipe would stall it.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def client(self) -> object:
        """A synchronous boto3 client on the server, for setup and inspection in tests."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
        )

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = self.client()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                output = self._output()
                self.stop()
                raise RuntimeError(f"moto_server exited on port {self.port}:\n{output}")
            try:
                client.list_tables()  # type: ignore[attr-defined]
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)
            else:
                return

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def __enter__(self) -> LocalDynamoDB:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """The URL of a moto server shared by the whole test session (give each test its own table).

    Also sets dummy AWS keys when none are set, so stores find credentials without probing further.
    """
    added = {name: "testing" for name in _CREDENTIAL_VARIABLES if name not in os.environ}
    os.environ.update(added)
    try:
        with LocalDynamoDB() as server:
            yield server.url
    finally:
        for name in added:
            os.environ.pop(name, None)
