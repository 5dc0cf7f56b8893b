# The pain-clinic patient assistant. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export RASA_TELEMETRY_ENABLED := false
# Training and benchmark runs keep sentence embeddings here between processes (bot/nlp/sentence_encoder.py).
export SENTENCE_EMBEDDING_CACHE ?= $(CURDIR)/build/sentence_embeddings.npz
VENV := .venv
PY := $(VENV)/bin/python
# The slow suites' pytest markers (pyproject.toml); every other test is in tests/unit.
SLOW := e2e or nlu or browser or scale or bench

.PHONY: help install system-packages spacy train run shell test test-unit test-rasa test-browser test-channels validate lint check-knowledge report purge-conversations forget-conversation test-security evaluate bench test-scale test-fuzz test-nlu test-bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: ## Find Python 3.10, build .venv, install the pinned requirements and the widget's npm packages
	@bash scripts/setup.sh

spacy: install ## Build the project's spaCy pipeline from the knowledge file
	@$(PY) -m bot.nlp.spacy_pipeline build/spacy_pipeline

train: install ## Build the spaCy pipeline and train, only if their inputs changed (FORCE=1 always)
	@bash scripts/train.sh

run: train ## Start the action server and Rasa server (REST, socket.io, chat widget and demo page on :5005)
	@bash scripts/run.sh

shell: train ## Talk to the full bot in the terminal
	@bash scripts/run.sh shell

validate: install ## rasa data validate --fail-on-warnings
	@$(VENV)/bin/rasa data validate --fail-on-warnings

system-packages: ## Install the Debian packages the tests use (PostgreSQL, Chromium), if missing
	@bash scripts/system-packages.sh

test: install system-packages ## Every test: the fast checks first (lint, knowledge, data, unit), then training and the slow suites
	@$(MAKE) --no-print-directory lint check-knowledge validate
	@$(PY) -m pytest tests/unit
	@$(MAKE) --no-print-directory train
	@$(PY) -m pytest -m "$(SLOW)"
	@$(MAKE) --no-print-directory test-rasa

test-unit: install ## Every test that needs no server, model or browser (tests/unit, laid out like the packages)
	@$(PY) -m pytest tests/unit

test-rasa: train ## Conversation tests (tests/test_stories.yml): any wrong intent, entity or action fails
	@$(VENV)/bin/rasa test core --e2e -m models/pain-clinic.tar.gz --stories tests/test_stories.yml \
		--fail-on-prediction-errors --out build/results --no-plot

check-knowledge: install ## Check the knowledge file (sources, reviews, reading level, dosing); write its review sheet
	@$(PY) -m bot.knowledge.checks

report: install ## Conversation report from the tracker store (ARGS="--since 2026-11-01 --db URL")
	@$(PY) -m bot.analytics.report $(ARGS)

purge-conversations: install ## Delete conversations older than retention_days (bot/clinic.yml) (ARGS="--days 30 --db URL")
	@$(PY) -m bot.analytics.retention purge $(ARGS)

forget-conversation: install ## Delete one conversation ("forget me"): make forget-conversation SENDER=<conversation id>
	@test -n "$(SENDER)" || { echo 'Usage: make forget-conversation SENDER=<conversation id> [ARGS="--db URL"]'; exit 2; }
	@$(PY) -m bot.analytics.retention forget $(ARGS) -- "$(SENDER)"

test-security: train ## Security and privacy tests (JWT API, action-server token, origins, log redaction, retention)
	@$(PY) -m pytest tests/security

evaluate: train ## NLU quality (hold-out, out-of-scope, 5-fold CV; vs Rasa default and a TF-IDF baseline), red-flag triage, and whether replies answer real FAQ questions (ARGS="--help")
	@$(PY) -m benchmarks.evaluate $(ARGS)
	@$(PY) -m benchmarks.triage
	@$(PY) -m benchmarks.questions

bench: train ## Speed and memory of the real servers vs Rasa's default; long sessions and a year's store (ARGS="--help")
	@$(PY) -m benchmarks.bench $(ARGS)

test-scale: train system-packages ## Production topology as processes: 2 Rasa replicas, PostgreSQL, Redis, nginx (deploy/)
	@$(PY) -m pytest -m scale

test-fuzz: train ## Bad input (hypothesis) and rate limits against a real Rasa server; the knowledge loader
	@$(PY) -m pytest tests/fuzz tests/unit/bot/test_ratelimit.py tests/unit/bot/knowledge/test_loader_fuzz.py

test-browser: train system-packages ## Browser tests of the chat widget (Chromium + Playwright, real servers)
	@$(PY) -m pytest -m browser

test-nlu: train ## The trained model, the red-flag triage and the question matcher on held-out data
	@$(PY) -m pytest -m nlu

test-bench: train ## The smoke versions of make evaluate and make bench (no timing assertions)
	@$(PY) -m pytest -m bench

.PHONY: test-reliability
test-reliability: train ## Never silent, nothing lost: action-server faults, Rasa restarts and kill -9, 50x20 load (REST, socket.io)
	@$(PY) -m pytest tests/reliability -s

test-channels: train ## Slack, Telegram and shell tests (real servers, fake Slack/Telegram APIs)
	@$(PY) -m pytest tests/channels

lint: install ## ruff and mypy (type checks of bot/ and actions/, settings in pyproject.toml)
	@$(VENV)/bin/ruff check bot actions tests benchmarks
	@$(VENV)/bin/mypy

clean: ## Remove the virtual environment, npm packages, models and build outputs
	rm -rf $(VENV) node_modules models build results .pytest_cache
