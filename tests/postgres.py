"""A throwaway PostgreSQL server on 127.0.0.1 for tests (Debian's postgresql package)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make test does it)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(database: str = "rasa", password: Optional[str] = None) -> Iterator[str]:
    """Starts PostgreSQL in a temporary folder; yields an SQLAlchemy URL to ``database``.

    With ``password``, user ``rasa`` must give it (scram-sha-256), as in production;
    without, any local connection is trusted."""
    binaries = _binaries()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="pg-test-"))
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run([*as_postgres, *args], check=True, capture_output=True)  # noqa: E731
    try:
        if password:
            pwfile = data / "pwfile"
            pwfile.write_text(password + "\n")
            if as_postgres:
                shutil.chown(pwfile, "postgres", "postgres")
            auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
        else:
            auth = ["-A", "trust"]
        run(str(binaries / "initdb"), "-D", str(data / "db"), *auth, "-U", "rasa")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data / "db"),
            "-o",
            options,
            "-w",
            "-l",
            str(data / "log"),
            "start",
        )
        createdb = [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "rasa", database]
        subprocess.run(
            [*as_postgres, "env", f"PGPASSWORD={password or ''}", *createdb], check=True, capture_output=True
        )
        credentials = f"rasa:{password}" if password else "rasa"
        yield f"postgresql://{credentials}@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(
            [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)
