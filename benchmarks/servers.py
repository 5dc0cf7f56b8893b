"""Starting and stopping the real servers for ``make bench``, and reading their memory.

Both servers are started the way ``make run`` starts them (``python -m actions`` and
``rasa run``), on free ports of 127.0.0.1, each keeping its
conversations in its own SQLite tracker store in the bench's work directory.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH_SETTINGS = ROOT / "build" / "bench" / "clinic.bench.yml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings() -> Path:
    """The clinic settings the bench runs with: the clinic's own, with rate limiting off.

    All simulated patients come from 127.0.0.1, which the per-address rate limit
    (``rate_limit`` in ``bot/clinic.yml``) would rightly treat as one flooding client.
    """
    source = Path(os.environ.get("CLINIC_SETTINGS") or ROOT / "bot" / "clinic.yml")
    settings = yaml.safe_load(source.read_text(encoding="utf-8"))
    settings.setdefault("rate_limit", {})
    if isinstance(settings["rate_limit"], dict):
        settings["rate_limit"]["enabled"] = False
    BENCH_SETTINGS.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    if not BENCH_SETTINGS.exists() or BENCH_SETTINGS.read_text(encoding="utf-8") != text:
        BENCH_SETTINGS.write_text(text, encoding="utf-8")
    return BENCH_SETTINGS


def server_env() -> Dict[str, str]:
    """The environment both servers run in: a fresh shared action-server secret, the bench settings."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "CLINIC_SETTINGS": str(bench_settings()),
    }


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of ``pid`` and all its descendants, in MiB."""
    total_kib = 0
    for process in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def descendants(pid: int) -> List[int]:
    """The ids of every live descendant of ``pid`` (from /proc)."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: List[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Servers:
    """A running action server and Rasa server (and when they were started)."""

    actions: subprocess.Popen
    rasa: subprocess.Popen
    url: str
    started: float
    logs: List[Path] = field(default_factory=list)
    db: Optional[Path] = None  # the SQLite tracker store, unless the store is elsewhere

    @property
    def webhook(self) -> str:
        """The REST channel's address."""
        return f"{self.url}/webhooks/rest/webhook"

    def rss(self) -> Dict[str, float]:
        """Resident memory of each server (with its child processes), in MiB."""
        return {"rasa": rss_mib(self.rasa.pid), "actions": rss_mib(self.actions.pid)}

    def check_alive(self) -> None:
        """Raises with the log tail if either server has exited."""
        for process, log in zip((self.actions, self.rasa), self.logs):
            if process.poll() is not None:
                raise RuntimeError(
                    f"{log.stem} server exited (code {process.returncode}); log:\n{log.read_text()[-3000:]}"
                )

    def stop(self) -> None:
        """Stops both servers (SIGTERM, SIGKILL after 20 s)."""
        stop([self.rasa, self.actions])


def stop(processes: List[subprocess.Popen]) -> None:
    """Stops ``processes`` (SIGTERM, then SIGKILL after 20 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def endpoints_yaml(
    actions_port: int, token: str, db: Path, project: bool, tracker_store: Optional[Dict[str, Any]] = None
) -> str:
    """The endpoints file for one bench run, pointing at this run's action server and SQLite file.

    The project runs with its own ``endpoints.yml`` (every setting kept, its own
    tracker store among them, only the action server's address and the store's file
    changed); the default configuration with Rasa's plain settings (address, secret,
    Rasa's SQL tracker store on an SQLite file).
    """
    config: Dict[str, Any] = {}
    if project:
        config = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8")) or {}
    action = dict(config.get("action_endpoint") or {})
    action["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    action["headers"] = {**(action.get("headers") or {}), "X-Action-Server-Token": token}
    config["action_endpoint"] = action
    if tracker_store is not None:  # e.g. the project's store on PostgreSQL
        config["tracker_store"] = dict(tracker_store)
    else:  # the project's own tracker store, or Rasa's, on this run's SQLite file
        store = dict(config.get("tracker_store") or {"type": "SQL", "dialect": "sqlite"})
        store["db"] = str(db)
        config["tracker_store"] = store
    return yaml.safe_dump(config, sort_keys=False)


def start_servers(
    model: Path,
    workdir: Path,
    name: str,
    credentials: Path,
    project_server: bool = True,
    db: Optional[Path] = None,
    tracker_store: Optional[Dict[str, Any]] = None,
) -> Servers:
    """Starts the action server and a Rasa server with ``model`` at the same moment (cold).

    ``project_server`` runs Rasa with the project's ``endpoints.yml`` (its channels in
    ``credentials`` install its server hooks); otherwise with Rasa's plain endpoint
    settings, as a team without this project would.
    ``db`` is an SQLite store to start with (kept; by default a new empty one), and
    ``tracker_store`` replaces the tracker store's settings altogether.
    Returns at once; use :func:`first_answer` to wait for the first reply.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    actions_port, rasa_port = free_port(), free_port()
    endpoints = workdir / f"endpoints.{name}.yml"
    if db is None:
        db = workdir / f"conversations.{name}.db"
        for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if stale.exists():
                stale.unlink()
    env = server_env()
    endpoints.write_text(
        endpoints_yaml(actions_port, env["ACTION_SERVER_TOKEN"], db, project_server, tracker_store), "utf-8"
    )
    actions_log, rasa_log = workdir / f"{name}.actions.log", workdir / f"{name}.rasa.log"
    started = time.monotonic()
    actions = subprocess.Popen(
        [sys.executable, "-m", "actions", "--port", str(actions_port), "--log-level", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=actions_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rasa",
            "run",
            "-m",
            str(model),
            "--port",
            str(rasa_port),
            "--interface",
            "127.0.0.1",
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials),
        ],
        cwd=ROOT,
        env=env,
        stdout=rasa_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return Servers(
        actions,
        rasa,
        f"http://127.0.0.1:{rasa_port}",
        started,
        [actions_log, rasa_log],
        None if tracker_store is not None else db,
    )


def first_answer(servers: Servers, message: str = "hello", timeout: float = 900) -> float:
    """Seconds from the servers' start until the REST webhook first answers ``message``."""
    deadline = servers.started + timeout
    while time.monotonic() < deadline:
        servers.check_alive()
        try:
            response = requests.post(
                servers.webhook,
                json={"sender": f"startup-{uuid.uuid4().hex[:8]}", "message": message},
                timeout=30,
            )
            if response.status_code == 200 and response.json():
                return time.monotonic() - servers.started
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no answer within {timeout} s; logs in {servers.logs[0].parent}")


def measure_make_run(workdir: Path) -> Dict[str, Any]:
    """``make run`` when nothing changed: how long until ready, and that it did not retrain.

    If the first ``make run`` retrains (its inputs changed since the last training,
    e.g. someone edited the data), that is recorded and ``make run`` is measured
    again, now with nothing changed.
    """
    first = run_make_run(workdir)
    if not first["retrained"]:
        return {**first, "first_run_retrained": False}
    second = run_make_run(workdir)
    return {**second, "first_run_retrained": True, "first_run_ready_s": first["ready_s"]}


def run_make_run(workdir: Path, timeout: float = 900) -> Dict[str, Any]:
    """Runs ``make run`` on free ports until it says it is ready; returns how long that took.

    Also reports whether it retrained (the model file changed or the script did not
    report the model up to date). Stops the servers it started with Ctrl-C (SIGINT
    to its own process group), as a user would.
    """
    model = ROOT / "models" / "pain-clinic.tar.gz"
    before = model.stat().st_mtime_ns if model.exists() else None
    log = workdir / "make-run.log"
    env = {**os.environ, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())}
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready: Optional[float] = None
    lines: List[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "The assistant is running" in line:
                ready = time.monotonic() - started
                break
            if time.monotonic() - started > timeout:
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.write_text("".join(lines))
    if ready is None:
        raise RuntimeError(f"make run was not ready within {timeout} s; output in {log}")
    output = "".join(lines)
    after = model.stat().st_mtime_ns if model.exists() else None
    return {
        "ready_s": ready,
        "retrained": before != after or "is up to date" not in output,
        "model_up_to_date_message": "is up to date" in output,
    }
