"""The models ``make bench`` compares: the project's and Rasa's default configuration.

Rasa's default (``benchmarks/rasa_init_config.yml``, what ``rasa init`` writes) is
trained from a copy in ``build/bench/``, because Rasa writes the auto-configured
pipeline and policies back into the file it is given. The trained model is cached
under a name made from the content hash of everything it is trained from, so a
re-run of the bench does not spend ten minutes retraining it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
PROJECT_MODEL = ROOT / "models" / "pain-clinic.tar.gz"
DEFAULT_CONFIG = ROOT / "benchmarks" / "rasa_init_config.yml"
VENV_BIN = Path(sys.executable).parent


def rasa_env() -> Dict[str, str]:
    """The environment Rasa commands run in (no telemetry, the project importable)."""
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}


def content_hash(paths: Iterable[Path], extra: str = "") -> str:
    """SHA-256 over the contents of ``paths`` (in the given order) and ``extra``."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(extra.encode())
    return digest.hexdigest()


def training_data(data: Path) -> List[Path]:
    """The YAML training files under ``data`` (a file or a directory), sorted."""
    return [data] if data.is_file() else sorted(data.glob("*.yml"))


def default_config_text(epochs: Optional[int] = None) -> str:
    """Rasa's ``rasa init`` configuration, verbatim, or with every ``epochs`` set to ``epochs``.

    With ``epochs`` the pipeline and policies Rasa 3.6 fills in for an empty
    configuration (its own ``default_config.yml``) are written out, with only the
    epochs of DIET, ResponseSelector, UnexpecTED and TED changed. The number of epochs
    changes training time and accuracy, not the model's size or the work per message,
    so such a model answers as fast as the fully trained one: the smoke run uses one
    epoch, and ``make bench --default-epochs N`` is for a machine too busy to train
    the default's 4 x 100 epochs.
    """
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    if epochs is None:
        return text
    spec = importlib.util.find_spec("rasa")
    assert spec is not None and spec.submodule_search_locations
    defaults = Path(spec.submodule_search_locations[0]) / "engine/recipes/config_files/default_config.yml"
    config = yaml.safe_load(text)
    filled = yaml.safe_load(defaults.read_text(encoding="utf-8"))
    for key in ("pipeline", "policies"):
        config[key] = [{**item, "epochs": epochs} if "epochs" in item else item for item in filled[key]]
    return yaml.safe_dump(config, sort_keys=False)


def train(
    config: Path,
    out: Path,
    name: str,
    data: Sequence[Path],
    domain: Path = ROOT / "domain.yml",
    log: Optional[Path] = None,
) -> float:
    """Runs ``rasa train`` into ``out/name.tar.gz``; returns the wall time in seconds."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(VENV_BIN / "rasa"),
        "train",
        "--config",
        str(config),
        "--domain",
        str(domain),
        "--out",
        str(out),
        "--fixed-model-name",
        name,
        "--data",
        *[str(path) for path in data],
    ]
    started = time.monotonic()
    with (log or out / f"{name}.train.log").open("w") as output:
        result = subprocess.run(command, cwd=ROOT, env=rasa_env(), stdout=output, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"rasa train failed for {config} (see {log or out / f'{name}.train.log'})")
    return elapsed


def default_model(data: Path = ROOT / "data", epochs: Optional[int] = None, build: Path = BUILD) -> Path:
    """Rasa's default configuration trained on ``data``: cached, trained only when its inputs changed."""
    text = default_config_text(epochs)
    domain = ROOT / "domain.yml"
    inputs = [domain, *training_data(data), ROOT / "requirements" / "server.txt"]
    key = content_hash(inputs, text)[:16]
    model = build / f"rasa-default-{key}.tar.gz"
    if model.exists():
        return model
    workdir = build / f"rasa-default-{key}"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    config = workdir / "config.yml"
    config.write_text(text, encoding="utf-8")
    print(f"Training Rasa's default configuration (cached afterwards as {model.name}) ...", flush=True)
    previous = os.environ.get("RASA_CACHE_DIRECTORY")
    os.environ["RASA_CACHE_DIRECTORY"] = str(workdir / "cache")  # cold: nothing reused
    try:
        seconds = train(config, workdir, "model", training_data(data), domain)
    finally:
        if previous is None:
            del os.environ["RASA_CACHE_DIRECTORY"]
        else:
            os.environ["RASA_CACHE_DIRECTORY"] = previous
    shutil.rmtree(workdir / "cache", ignore_errors=True)
    (workdir / "model.tar.gz").replace(model)
    (build / f"rasa-default-{key}.seconds").write_text(f"{seconds:.1f}\n")
    print(f"  trained in {seconds:.0f} s", flush=True)
    return model


if __name__ == "__main__":
    print(default_model(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else None))
