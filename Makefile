# Two commands do all set-up on a fresh machine:
#   make demo   crawl the bundled demo intranet and serve the search UI on 127.0.0.1:8080
#   make test   run the test suite (starts a private PostgreSQL if the server is installed)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv lint bench clean

$(BIN)/savoir: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/savoir

venv: $(BIN)/savoir

demo: venv
	$(BIN)/savoir demo

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python bench/crawl_index.py

clean:
	rm -rf $(VENV) savoir-data
