# Two commands set everything up on a fresh machine: `make run` and `make test`. `make help` lists the rest.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  := models/CURRENT
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: help install data model run test lint bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

data: $(STAMP) ## rebuild data/train.csv and data/test.csv from data/raw (after data/raw changes)
	$(BIN)/crmqc data build

# Train when there is no model yet, or when the split, the span labels, the text rules or the feature code changed.
FEATURE_CODE := $(wildcard classifier/text/*.py classifier/model/*.py) classifier/training/train.py classifier/training/spans.py
$(MODEL): $(STAMP) data/train.csv data/test.csv $(wildcard data/spans/*.jsonl) $(filter-out rules/crm.yaml,$(wildcard rules/*.yaml)) $(FEATURE_CODE)
	$(BIN)/crmqc train

model: $(MODEL) ## train a model version if the data, rules or feature code changed

run: $(MODEL) ## set up, train if needed, serve on http://$(HOST):$(PORT)
	$(BIN)/crmqc serve --host $(HOST) --port $(PORT)

lint: $(STAMP) ## ruff over the code, tests and benchmarks
	$(BIN)/ruff check classifier tests bench

test: lint $(MODEL) ## set up, lint, and run the whole test suite
	$(BIN)/python -m pytest

bench: $(MODEL) ## batch and single-comment speed of the classifier
	$(BIN)/python bench/bench_classifier.py

clean: ## remove the venv and every trained model
	rm -rf $(VENV) models/*.joblib models/*.json models/CURRENT
