# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  := models/CURRENT
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install data model run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Rebuild the fixed split from the immutable raw files (only needed after data/raw changes).
data: $(STAMP)
	$(BIN)/crmqc data build

# Train when there is no model yet, or when the split, the text rules or the feature code changed.
FEATURE_CODE := $(addprefix classifier/,normalize.py tokenize.py lemmatize.py rules.py features.py model.py train.py)
$(MODEL): $(STAMP) data/train.csv data/test.csv $(filter-out rules/crm.yaml,$(wildcard rules/*.yaml)) $(FEATURE_CODE)
	$(BIN)/crmqc train

model: $(MODEL)

run: $(MODEL)
	$(BIN)/crmqc serve --host $(HOST) --port $(PORT)

test: $(MODEL)
	$(BIN)/python -m pytest

bench: $(MODEL)
	$(BIN)/python bench/bench_classifier.py

clean:
	rm -rf $(VENV) models/*.joblib models/*.json models/CURRENT
