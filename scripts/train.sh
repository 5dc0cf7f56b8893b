#!/usr/bin/env bash
# Builds the spaCy pipeline and trains the Rasa model, but only when something
# they are made from changed (content hash, not timestamps). FORCE=1 retrains.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false
PY=.venv/bin/python
MODEL=models/pain-clinic.tar.gz
PIPELINE=build/spacy_pipeline

inputs_hash() {
  cat "$@" | sha256sum | cut -d' ' -f1
}

spacy_inputs=(bot/knowledge/knowledge.yml bot/knowledge/__init__.py bot/nlp/spacy_pipeline.py requirements/server.txt)
spacy_hash=$(inputs_hash "${spacy_inputs[@]}")
if [ "${FORCE:-0}" = 1 ] || [ ! -f "$PIPELINE/.inputs.sha256" ] || [ "$(cat "$PIPELINE/.inputs.sha256")" != "$spacy_hash" ]; then
  "$PY" -m bot.nlp.spacy_pipeline "$PIPELINE"
  echo "$spacy_hash" > "$PIPELINE/.inputs.sha256"
fi

model_inputs=(config.yml domain.yml data/*.yml bot/nlp/*.py bot/safety/*.py bot/safety/*.yml bot/knowledge/knowledge.yml "$PIPELINE/.inputs.sha256" requirements/server.txt requirements/model.txt)
model_hash=$(inputs_hash "${model_inputs[@]}")
if [ "${FORCE:-0}" != 1 ] && [ -f "$MODEL" ] && [ -f models/.inputs.sha256 ] && [ "$(cat models/.inputs.sha256)" = "$model_hash" ]; then
  echo "Model $MODEL is up to date (nothing it is trained from changed)."
  exit 0
fi
mkdir -p models
# --force: Rasa's own cache keys a component on its settings and data, not its
# code, so a change to bot/nlp/*.py could otherwise reuse a part trained by the
# old code. This script has already decided that something changed.
.venv/bin/rasa train --force --fixed-model-name pain-clinic --out models
echo "$model_hash" > models/.inputs.sha256
