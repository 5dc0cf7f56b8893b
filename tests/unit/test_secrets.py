"""Secrets come from environment variables only: none in the repository.

Scans every file git tracks (and new files not ignored) for values that look like
credentials, and every YAML setting named like a secret for a literal value
instead of a ``${VARIABLE}``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import yaml

from tests.servers import ROOT

PATTERNS: Dict[str, re.Pattern] = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abposr]-\d{6,}-[0-9A-Za-z-]{8,}"),
    "Telegram bot token": re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\$\{)[^/\s@'\"{}]+@"),
    "secret assignment": re.compile(
        r"(?i)\b[a-z_]*(?:password|passwd|secret|token|api_?key)[a-z_]*\b['\"]?\s*[:=]\s*['\"]"
        r"(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])([A-Za-z0-9+/_=-]{20,})['\"]"
    ),
}

SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_key|signing)")
# ${VAR}, or docker compose's ${VAR:?message} (required, no default); never ${VAR:-default}.
ENV_REFERENCE = re.compile(r"^\$\{[A-Z0-9_]+(:?\?[^}]*)?\}$")
# Settings that name where a secret is kept (a Kubernetes Secret), not the secret.
SECRET_REFERENCE_KEY = re.compile(r"(?i)(secret_?name|existing_?secret)$")
# Example env files (placeholders only, checked below) are allowed; real ones are not.
FORBIDDEN_FILES = re.compile(
    r"(^|/)(\.env(\.(?!example$).*)?|id_rsa|id_ed25519|.*\.pem|.*\.key|.*\.p12|.*\.db|.*\.sqlite3?)$"
)
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".gz", ".tar", ".zip", ".woff", ".woff2", ".pdf"}


def repository_files() -> List[str]:
    """Tracked files plus new files git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return sorted({name for name in listed if (ROOT / name).is_file()})


def _texts() -> Iterator[Tuple[str, str]]:
    for name in repository_files():
        path = ROOT / name
        if path.suffix.lower() in BINARY_SUFFIXES or path.stat().st_size > 2_000_000:
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def test_no_credential_files_in_the_repository():
    assert repository_files(), "git lists the repository"
    assert [name for name in repository_files() if FORBIDDEN_FILES.search(name)] == []


def test_example_env_files_hold_no_values_for_secrets():
    examples = [name for name in repository_files() if name.endswith(".env.example")]
    assert examples, "deploy/.env.example documents the variables"
    filled = []
    for name in examples:
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            key, _, value = line.lstrip("# ").partition("=")
            if SECRET_KEY.search(key) and value.strip():
                filled.append(f"{name}:{number}")
    assert filled == []


def test_no_secret_looking_values_in_the_repository():
    found = []
    for name, text in _texts():
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {kind}")
    assert found == []


def _secret_settings(node, path: str = "") -> Iterator[Tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            secret = SECRET_KEY.search(str(key)) and not SECRET_REFERENCE_KEY.search(str(key))
            if secret and not isinstance(value, (dict, list)):
                yield where, value
            yield from _secret_settings(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secret_settings(item, f"{path}[{index}]")


def test_yaml_secrets_are_environment_variables():
    checked, literal = 0, []
    for name in repository_files():
        if not name.endswith((".yml", ".yaml")) or name.startswith(("data/", "tests/data/")):
            continue
        try:
            documents = list(yaml.safe_load_all((ROOT / name).read_text(encoding="utf-8")))
        except yaml.YAMLError:
            continue  # templates (e.g. Helm) are not plain YAML
        for document in documents:
            for where, value in _secret_settings(document):
                checked += 1
                if value in (None, "", False, True) or isinstance(value, (int, float)):
                    continue
                if not ENV_REFERENCE.match(str(value).strip()):
                    literal.append(f"{name}: {where}")
    assert checked, "credentials.channels.yml and endpoints.yml have secret settings"
    assert literal == []


def test_the_scan_finds_what_it_looks_for():
    """The patterns themselves, on made-up values."""
    # Assembled at run time, so this file does not trip its own scan.
    samples = {
        "private key": "-----BEGIN RSA PRIVATE " + "KEY-----",
        "Slack token": "xoxb-" + "123456789012-1234567890123-" + "a" * 24,
        "Telegram bot token": "123456789" + ":" + "A" * 35,
        "password in a URL": "postgresql://rasa:" + "hunter2@db:5432/rasa",
        "secret assignment": "SLACK_SIGNING_SECRET = " + '"8f14e45fceea167a5a36dedd4bea2543"',
    }
    for kind, sample in samples.items():
        assert PATTERNS[kind].search(sample), kind
    assert not PATTERNS["password in a URL"].search("postgresql://rasa:${DB_PASSWORD}@db/rasa")
    assert not PATTERNS["secret assignment"].search('TOKEN_ENV = "ACTION_SERVER_TOKEN"')
    assert FORBIDDEN_FILES.search("deploy/.env") and FORBIDDEN_FILES.search("conversations.db")
    assert FORBIDDEN_FILES.search("deploy/.env.production")
    assert not FORBIDDEN_FILES.search("deploy/.env.example")
    assert ENV_REFERENCE.match("${DB_PASSWORD:?set it}")
    assert not ENV_REFERENCE.match("${DB_PASSWORD:-hunter2}")
    assert list(_secret_settings({"a": {"slack_token": "xoxb-1"}})) == [("a.slack_token", "xoxb-1")]
    assert Path(__file__).name in " ".join(repository_files())
