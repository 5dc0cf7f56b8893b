"""The deployment files (deploy/) checked without a container engine: every file
parses, the names line up between docker-compose.yml, endpoints.production.yml,
the Helm values, the Dockerfiles and the code, no secret is committed, and nginx's
configuration passes ``nginx -t`` with the real nginx binary."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Set

import pytest
import yaml

from tests.scale.services import PLACEHOLDER, nginx_check, nginx_values, render_nginx_conf
from tests.servers import ROOT, free_port

pytestmark = pytest.mark.scale

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENDPOINTS = DEPLOY / "endpoints.production.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
RASA_VALUES = DEPLOY / "helm" / "rasa-values.yml"
ACTION_VALUES = DEPLOY / "helm" / "action-server-values.yml"
SECRET_NAMES = {"DB_PASSWORD", "REDIS_PASSWORD", "ACTION_SERVER_TOKEN", "RASA_JWT_SECRET"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def env_file() -> Dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def commented_env_names() -> Set[str]:
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.M))


def test_every_deploy_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    assert {f.name for f in files} >= {
        "docker-compose.yml",
        "endpoints.production.yml",
        "rasa-values.yml",
        "action-server-values.yml",
    }
    for path in files:
        assert isinstance(load(path), dict), path


def test_endpoints_use_postgresql_redis_and_the_action_server_secret_from_the_environment():
    endpoints = load(ENDPOINTS)
    assert endpoints["tracker_store"]["type"] == "bot.stores.tracker.ClinicTrackerStore"
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"]["type"] == "bot.stores.locks.AtomicRedisLockStore"
    assert endpoints["lock_store"]["key_prefix"].isalnum()  # Rasa ignores a non-alphanumeric prefix
    assert endpoints["action_endpoint"]["headers"] == {"X-Action-Server-Token": "${ACTION_SERVER_TOKEN}"}
    # Every address and secret is a variable; nothing is written in.
    for section, keys in {
        "tracker_store": ("url", "port", "db", "username", "password"),
        "lock_store": ("url", "port", "password"),
        "action_endpoint": ("url",),
    }.items():
        for key in keys:
            assert PLACEHOLDER.fullmatch(str(endpoints[section][key])), (section, key)


def test_compose_gives_the_replicas_every_variable_endpoints_production_needs():
    compose = load(COMPOSE)
    services = compose["services"]
    assert {"nginx", "rasa-1", "rasa-2", "actions", "postgres", "redis"} <= set(services)
    needed = set(PLACEHOLDER.findall(ENDPOINTS.read_text()))
    example = env_file()
    for name in ("rasa-1", "rasa-2"):
        rasa = services[name]
        assert rasa["env_file"] == ".env"
        provided = set(rasa["environment"]) | set(example)
        assert needed <= provided, needed - provided
        # The two replicas are the same service twice.
        assert rasa == services["rasa-1"]
    rasa = services["rasa-1"]
    assert rasa["build"]["dockerfile"] == "deploy/Dockerfile.rasa"
    assert rasa["environment"]["ACTION_SERVER_URL"] == "http://actions:5055/webhook"
    assert rasa["environment"]["DB_HOST"] == "postgres" and rasa["environment"]["REDIS_HOST"] == "redis"
    # PostgreSQL and Redis get the same names the replicas use.
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_DB"].startswith("${DB_NAME")
    assert postgres["POSTGRES_USER"].startswith("${DB_USER")
    assert postgres["POSTGRES_PASSWORD"].startswith("${DB_PASSWORD")
    assert services["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")
    assert services["actions"]["environment"]["ACTION_SERVER_TOKEN"].startswith("${ACTION_SERVER_TOKEN")


def test_compose_exposes_only_nginx_and_keeps_the_back_end_internal():
    compose = load(COMPOSE)
    services = compose["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["nginx"]
    assert compose["networks"]["back"]["internal"] is True
    for name in ("actions", "postgres", "redis"):
        assert services[name]["networks"] == ["back"], name
    assert services["nginx"]["networks"] == ["front"]
    # nginx's upstreams are the two replica services.
    upstreams = re.findall(r"server ([\w-]+):(\d+)", services["nginx"]["environment"]["RASA_SERVERS"])
    assert upstreams == [("rasa-1", "5005"), ("rasa-2", "5005")]
    # The nginx container's template is deploy/nginx.conf, with a value for every placeholder.
    assert "./nginx.conf:/etc/nginx/templates/nginx.conf.template:ro" in services["nginx"]["volumes"]
    placeholders = set(PLACEHOLDER.findall((DEPLOY / "nginx.conf").read_text()))
    assert placeholders <= set(services["nginx"]["environment"]), placeholders
    assert services["nginx"]["environment"]["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"


def test_no_secret_is_committed():
    example = env_file()
    assert SECRET_NAMES - {"RASA_JWT_SECRET"} <= set(example)
    assert "RASA_JWT_SECRET" in commented_env_names()
    for name in SECRET_NAMES & set(example):
        assert example[name] == "", f"{name} has a value in .env.example"
    assert not (DEPLOY / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split()
    # No literal password, token or secret anywhere in deploy/: only variables or empty values.
    secret_key = re.compile(r"(password|token|secret)[\w-]*\s*[:=]\s*(.*)$", re.I)
    variable = re.compile(r"\$\{[A-Z][A-Z0-9_]*(:\?[^}]*)?\}")
    checked = 0
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = secret_key.search(line)
            if line.lstrip().startswith("#") or not match:
                continue
            if match.group(0).lower().startswith(("secretkeyref", "secretname")):
                continue  # names of Kubernetes secrets, not their contents
            value = match.group(2).split(" #")[0].strip()
            assert value in ("", '""') or variable.fullmatch(value), f"{path}:{number}: {line}"
            checked += 1
    assert checked >= 10  # the check saw the endpoints', compose's, .env's and Helm's secrets


def test_the_variable_names_are_the_ones_the_code_reads():
    from actions import auth
    from bot.channels import state
    from bot.server import http_api

    assert auth.TOKEN_ENV == "ACTION_SERVER_TOKEN"
    assert http_api.JWT_SECRET_ENV == "RASA_JWT_SECRET"
    assert state.redis_connection({"REDIS_HOST": "redis", "REDIS_PORT": "6379", "REDIS_PASSWORD": "x"}) == {
        "host": "redis",
        "port": 6379,
        "password": "x",
        "db": 1,
    }
    # The lock store and the channels' shared state use the same Redis database.
    assert str(load(ENDPOINTS)["lock_store"]["db"]) == "1"


def test_dockerfiles_are_non_root_pinned_and_copy_what_exists():
    for name, requirements, entrypoint in (
        ("Dockerfile.rasa", "requirements/server.txt", '["rasa"]'),
        ("Dockerfile.actions", "requirements/actions.txt", '["python", "-m", "actions"]'),
    ):
        text = (DEPLOY / name).read_text()
        bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
        assert "python:3.10-slim" in bases and all(":" in base for base in bases), bases
        assert f"pip install -r /tmp/{requirements}" in text
        assert re.search(r"^USER 1001:1001$", text, flags=re.M)
        assert f"ENTRYPOINT {entrypoint}" in text
        for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
            for path in source.split():
                assert (ROOT / path).exists(), f"{name}: COPY {path} does not exist"
        ignore = (DEPLOY / f"{name}.dockerignore").read_text()
        assert "!.venv" not in ignore and ignore.splitlines()[2] == "**"
    rasa = (DEPLOY / "Dockerfile.rasa").read_text()
    assert "rasa train --fixed-model-name pain-clinic" in rasa
    command = rasa[rasa.index("\nCMD ") :]
    assert "deploy/endpoints.production.yml" in command and "--enable-api" not in command


def test_helm_values_override_the_charts_unsafe_defaults():
    rasa = load(RASA_VALUES)
    settings = rasa["applicationSettings"]
    assert settings["telemetry"]["enabled"] is False
    assert settings["enableAPI"] is False
    assert settings["token"] == "" and settings["initialModel"] == ""
    assert settings["cors"] != "*"
    assert settings["endpoints"]["lockStore"]["enabled"] is True
    assert settings["endpoints"]["lockStore"]["type"] == "bot.stores.locks.AtomicRedisLockStore"
    assert settings["endpoints"]["trackerStore"]["dialect"] == "postgresql"
    tracker_store = load(ENDPOINTS)["tracker_store"]
    assert settings["endpoints"]["trackerStore"]["type"] == tracker_store["type"]
    assert settings["endpoints"]["trackerStore"]["recent_turns"] == tracker_store["recent_turns"]
    # The chart's own command line passes --auth-token and --enable-api; ours replaces it.
    args = rasa["args"]
    assert args[0] == "run" and "--auth-token" not in args and "--enable-api" not in args
    assert args[args.index("--endpoints") + 1] == "deploy/endpoints.production.yml"
    assert args[args.index("--cors") + 1] == settings["cors"]
    env = {item["name"]: item for item in rasa["extraEnv"]}
    assert set(PLACEHOLDER.findall(ENDPOINTS.read_text())) <= set(env)
    for name in SECRET_NAMES & set(env):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert env["RASA_TELEMETRY_ENABLED"]["value"] == "false"
    assert rasa["replicaCount"] >= 2
    assert rasa["postgresql"]["install"] is False and rasa["redis"]["install"] is False
    assert rasa["nginx"]["enabled"] is False
    assert rasa["ingress"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert rasa["podSecurityContext"]["runAsNonRoot"] is True
    assert rasa["image"]["tag"] != "latest"

    actions = load(ACTION_VALUES)
    assert actions["applicationSettings"]["telemetry"]["enabled"] is False
    assert "rasa-x-demo" not in str(actions["image"])
    env = {item["name"]: item for item in actions["extraEnv"]}
    assert "secretKeyRef" in env["ACTION_SERVER_TOKEN"]["valueFrom"]
    assert actions["ingress"]["enabled"] is False
    assert actions["securityContext"]["readOnlyRootFilesystem"] is True
    assert actions["service"]["port"] == 5055
    assert ":5055/webhook" in {item["name"]: item for item in rasa["extraEnv"]}["ACTION_SERVER_URL"]["value"]


def test_nginx_conf_passes_nginx_t():
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: `make system-packages` installs it.")
    folder = Path(tempfile.mkdtemp(prefix="nginx-t-"))
    try:
        config = folder / "nginx.conf"
        values = nginx_values(folder, free_port(), ["127.0.0.1:5005", "127.0.0.1:5006"], workers="auto")
        config.write_text(render_nginx_conf(values))
        checked = nginx_check(config, folder)
        assert checked.returncode == 0, checked.stderr
        assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_nginx_conf_refuses_to_render_with_a_missing_value(tmp_path):
    values = nginx_values(tmp_path, 8080, ["127.0.0.1:5005"])
    del values["RASA_SERVERS"]
    with pytest.raises(KeyError, match="RASA_SERVERS"):
        render_nginx_conf(values)
