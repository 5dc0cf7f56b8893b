"""Throwaway Redis and nginx servers on 127.0.0.1 for the scale tests (Debian's
``redis-server`` and ``nginx``), each in its own temporary folder, run as an
unprivileged user when the tests run as root, on free ports.

nginx runs with ``deploy/nginx.conf``, the same template the deployment uses,
filled in by :func:`render_nginx_conf`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from tests.servers import ROOT, free_port

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
UNPRIVILEGED = "nobody"


def _unprivileged(folder: Path) -> List[str]:
    """The command prefix that runs a server as ``nobody`` (when we are root)."""
    if os.geteuid() != 0:
        return []
    shutil.chown(folder, UNPRIVILEGED)
    return ["runuser", "-u", UNPRIVILEGED, "--"]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited (code {process.returncode}):\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Redis:
    """A running Redis server."""

    host: str
    port: int
    password: str
    log: Path

    def client(self, db: int = 1):
        """A (synchronous) redis-py client."""
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password, db=db)


@contextmanager
def redis_server(password: str) -> Iterator[Redis]:
    """Starts ``redis-server`` with ``password`` in a temporary folder, nothing saved to disk."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed: `make system-packages` installs it")
    folder = Path(tempfile.mkdtemp(prefix="redis-test-"))
    as_user = _unprivileged(folder)
    port = free_port()
    config = folder / "redis.conf"
    config.write_text(
        f"bind 127.0.0.1\nport {port}\nprotected-mode yes\nrequirepass {password}\n"
        f'dir {folder}\nsave ""\nappendonly no\ndaemonize no\nlogfile ""\n'
    )
    log = folder / "redis.log"
    process = subprocess.Popen(
        [*as_user, binary, str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        _wait_for_port(port, process, log)
        yield Redis("127.0.0.1", port, password, log)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def render_nginx_conf(values: Dict[str, str], template: Path = NGINX_TEMPLATE) -> str:
    """``deploy/nginx.conf`` with its ``${NAME}`` placeholders filled from ``values``,
    as the nginx image's envsubst step does; every placeholder must have a value."""
    text = template.read_text()
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise KeyError(f"{template}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def nginx_values(folder: Path, port: int, upstreams: Sequence[str], workers: str = "1") -> Dict[str, str]:
    """The template values for a test nginx in ``folder``."""
    return {
        "NGINX_PORT": f"127.0.0.1:{port}",
        "NGINX_WORKER_PROCESSES": workers,
        "NGINX_RUN_DIR": str(folder),
        "NGINX_ACCESS_LOG": str(folder / "access.log"),
        "RASA_SERVERS": " ".join(f"server {upstream};" for upstream in upstreams),
    }


def nginx_check(config: Path, folder: Path) -> subprocess.CompletedProcess:
    """``nginx -t`` on ``config`` (as the unprivileged user when we are root)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    as_user = _unprivileged(folder)
    return subprocess.run(
        [*as_user, binary, "-t", "-p", str(folder), "-c", str(config), "-e", "stderr"],
        capture_output=True,
        text=True,
    )


@dataclass
class Nginx:
    """A running nginx in front of the replicas."""

    url: str
    port: int
    folder: Path
    access_log: Path
    log: Path

    def upstreams(self, request_ids: Optional[Sequence[str]] = None) -> Dict[str, str]:
        """Which replica served each request (``$request_id`` -> ``$upstream_addr``)."""
        served = {}
        for line in self.access_log.read_text().splitlines():
            parts = line.split(" ")
            match = re.search(r"upstream=(.*?) rt=", line)
            if len(parts) > 1 and match:
                # "a, b" when nginx tried a first and b answered
                served[parts[1]] = match.group(1).split(", ")[-1]
        if request_ids is not None:
            return {rid: served.get(rid, "") for rid in request_ids}
        return served

    def log_lines(self) -> List[str]:
        """The access log."""
        return self.access_log.read_text().splitlines()


@contextmanager
def nginx_server(upstreams: Sequence[str]) -> Iterator[Nginx]:
    """Starts nginx (foreground, unprivileged) with the rendered ``deploy/nginx.conf``."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: `apt-get install nginx` (make test does it)")
    folder = Path(tempfile.mkdtemp(prefix="nginx-test-"))
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(render_nginx_conf(nginx_values(folder, port, upstreams)))
    checked = nginx_check(config, folder)
    if checked.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
    as_user = _unprivileged(folder)
    log = folder / "error.log"
    process = subprocess.Popen(
        [*as_user, binary, "-p", str(folder), "-c", str(config), "-e", "stderr", "-g", "daemon off;"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, log)
        yield Nginx(f"http://127.0.0.1:{port}", port, folder, folder / "access.log", log)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)
