"""A real ``cql serve`` in a subprocess on 127.0.0.1 (a free port picked by the OS)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from index.cli.search import fixture_index

ALICE = ("alice@northwind.example", "alice-api-token")
ALICE_ID = "23c11178a44ef240b0fc3f05"
DANA_ID = "bbfd51cb6d4e3152f5298a3f"  # granted app-syncbot, which policy p1 blocks from HR
FIXED_NOW = "2026-11-01T12:00:00+00:00"
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def copy_fixture_index(tmp: Path) -> Path:
    """A private copy of the fixture index (servers write to their index)."""
    target = tmp / "index"
    shutil.copytree(fixture_index(), target)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``cql serve --index DIR --port 0`` until ``stop()``; ``url`` is its base URL."""

    def __init__(self, index_dir: Path, *extra: str) -> None:
        self.index_dir = index_dir
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # One process binds port 0 and logs the port it got; with several workers uvicorn
        # logs ":0", so a free port is picked here instead.
        port = str(_free_port()) if "--workers" in extra else "0"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "index.cli", "serve", "--index", str(index_dir),
             "--port", port, "--now", FIXED_NOW, "--log-level", "info", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output: list[str] = []
        port = self._wait_for_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.url = f"{self.origin}/wiki"
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_until_answering()

    def _wait_until_answering(self, timeout: float = 60.0) -> None:
        """With several workers the parent logs its address before the workers listen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.origin}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("cql serve does not answer:\n" + "".join(self.output))

    def _wait_for_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = _LISTENING.search(line)
            if found:
                return int(found[1])
        self.proc.kill()
        raise RuntimeError("cql serve did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def client(self, auth: tuple[str, str] | None = ALICE, token: str | None = None
               ) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.origin, auth=auth if not token else None,
                            headers=headers, timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def token(index_dir: Path, app: str, scopes: str, user: str | None = None,
          *extra: str, cli: bool = False) -> str:
    """A bearer token: minted by the real ``cql token issue`` with ``cli=True``, else by the
    same function in-process (a subprocess per token costs a second of imports)."""
    if not cli:
        from index.security.callers import parse_scopes
        from index.serve.auth import AUTH0_ISSUER, NATIVE_ISSUER, issue_token

        options = dict(zip(extra[::2], extra[1::2], strict=True))
        issuer = AUTH0_ISSUER if options.get("--issuer") == "auth0" else NATIVE_ISSUER
        return issue_token(index_dir, app, parse_scopes(scopes), user,
                           ttl=int(options.get("--ttl", 3600)), issuer=issuer)
    cmd = [sys.executable, "-m", "index.cli", "token", "issue", "--index", str(index_dir),
           "--app", app, "--scopes", scopes, *extra]
    if user:
        cmd += ["--user", user]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return done.stdout.strip()
