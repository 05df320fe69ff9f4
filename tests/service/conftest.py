"""A real uvicorn server on a free loopback port, in this process (so it can share the
session's Ray), or as a `nas serve` subprocess where a test kills it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from nas.service import ServiceSettings, create_app

TOKEN = "test-token-123"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    settings: ServiceSettings
    app: Any = None

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


class ThreadServer:
    """uvicorn.Server running ``create_app(settings)`` in a thread, bound to 127.0.0.1."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.settings = settings

    def __enter__(self) -> Server:
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return Server(f"http://127.0.0.1:{self.port}", self.settings, self.app)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def settings_for(storage: str, **kw: Any) -> ServiceSettings:
    base: dict[str, Any] = {
        "storage": storage,
        "token": TOKEN,
        "ray": False,
        "allow_modules": ("tests.service.evaluators",),
    }
    return ServiceSettings(**{**base, **kw})


@pytest.fixture
def server(storage_url: str) -> Iterator[Server]:
    """A server without Ray (local-executor studies) over SQLite, then PostgreSQL."""
    with ThreadServer(settings_for(storage_url)) as s:
        yield s


def wait_state(c: httpx.Client, name: str, states: set[str], timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while True:
        s = c.get(f"/studies/{name}").json()
        if s["state"] in states:
            return s
        if time.monotonic() > end:
            raise AssertionError(f"{name} still {s['state']} after {timeout} s: {s}")
        time.sleep(0.1)


def slow_spec(name: str, trials: int) -> dict:
    return {
        "name": name,
        "space": {
            "name": "custom",
            "params": {"x0": {"type": "float", "low": 0, "high": 1}, "x1": {"type": "float", "low": 0, "high": 1}},
            "evaluator": "tests.service.evaluators:slow_zdt",
        },
        "objectives": [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}],
        "optimizer": {"name": "random", "seed": 0},
        "budget": {"trials": trials},
        "executor": {"name": "local"},
    }


class ProcessServer:
    """`nas serve --no-ray` as a subprocess (so a test can SIGKILL it)."""

    def __init__(self, storage: str, log: Path) -> None:
        self.port, self.storage, self.log = free_port(), storage, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        path = f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        env = {**os.environ, "NAS_API_TOKEN": TOKEN, "PYTHONPATH": path}
        cmd = [
            sys.executable,
            "-m",
            "nas.cli",
            "serve",
            "--no-ray",
            "--port",
            str(self.port),
            "--storage",
            self.storage,
            "--allow-module",
            "tests.service.evaluators",
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{self.port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(url + "/studies", timeout=2).status_code == 200:
                    return Server(url, settings_for(self.storage))
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"nas serve did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
