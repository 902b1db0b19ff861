# The study pipeline: execute every notebook with papermill (reading the records in results/; training missing runs only in smoke) into
# book/experiments/, strip their timestamps (book/_ext/nbnormalise.py: unchanged inputs leave git status clean),
# build the book. Numbers in the book come only from these runs.
#
#   make study PROFILE=quick     # all pages, quick profile (resumes from results/)
#   make study PROFILE=smoke NOTEBOOKS="ablation fidelity"
#   make book                    # rebuild the HTML from the executed notebooks in book/experiments/
#   make test                    # the test suite, notebooks validated in the smoke profile
#   make notebook-refs           # refresh the outputs that notebook validation compares
#   make study-full              # the full-profile queue (study/full.yaml) in the background, log in logs/full.log
#   make study-full HOURS=2.5    # a sitting that ends (a 3-hour session): only runs that finish in time, paused at the end
#   make study-full HOURS=2.5 PERSISTENT=1   # the same on a machine that keeps ~/.cache between sittings: plan order
#   make study-full WORKERS=1 THREADS=2   # one run on both cores (FGKF steps ~1.4-1.6x faster than on one)
#   make study-status            # what the queue has recorded, started (how far) and left

PROFILE ?= quick
# the data root: $FGKF_DATA, else ../shared/data where that folder exists (the layout CI and the sessions use)
ifeq ($(FGKF_DATA),)
ifneq ($(wildcard ../shared/data),)
export FGKF_DATA := ../shared/data
endif
endif
# the repository's virtual environment when there is one (README set-up), else whatever python is on PATH
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python)
PAPERMILL ?= $(PYTHON) -m papermill
JUPYTER_BOOK ?= $(if $(wildcard .venv/bin/jupyter-book),.venv/bin/jupyter-book,jupyter-book)
PAPERMILL_ARGS ?=
NOTEBOOKS ?= main_results cws_variants relevance_split relevance_heatmaps data_size ablation fidelity fusion_weights ner_splits reproducibility
# tqdm warns at import when ipywidgets is missing; that stderr line would fail the strict book build
export PYTHONWARNINGS := ignore:IProgress not found

# the datasets a lent GPU machine needs (study/device.sh): the device tool carries .devdata, not ../shared
DEVICE_TASKS ?= cws_zx cws_weibo

.PHONY: study study-full study-status device-data book check-notebooks notebook-refs test clean-book

# Each page is executed into a temporary file and moved over book/experiments/<page>.ipynb only when it ran
# through: a failed execution (no data root, a missing record) leaves the committed page as it was and keeps the
# failed notebook beside it as <page>.failed.ipynb (ignored by git) for its traceback.
study:
	@mkdir -p book/experiments
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "== $$nb (profile $(PROFILE))"; \
		tmp=book/experiments/.$$nb.partial.ipynb; \
		if ! $(PAPERMILL) --progress-bar notebooks/$$nb.ipynb $$tmp -p profile $(PROFILE) $(PAPERMILL_ARGS); then \
			mv $$tmp book/experiments/$$nb.failed.ipynb; \
			echo "$$nb failed: book/experiments/$$nb.ipynb left as it was; the traceback is in book/experiments/$$nb.failed.ipynb"; \
			exit 1; \
		fi; \
		$(PYTHON) book/_ext/nbnormalise.py $$tmp --output-path book/experiments/$$nb.ipynb; \
		mv $$tmp book/experiments/$$nb.ipynb; \
		rm -f book/experiments/$$nb.failed.ipynb; \
	done
	$(MAKE) book

# 2 workers x 1 thread, niced so interactive work keeps the cores; resumable; a second start exits at once.
# Checkpoints go outside the work tree, so the queue resumes on this machine after a fresh checkout.
FGKF_CHECKPOINTS ?= $(HOME)/.cache/fgkf/checkpoints
HOURS ?=
# set (PERSISTENT=1) where this machine keeps its checkpoints between sittings: start long runs under HOURS too
PERSISTENT ?=
WORKERS ?= 2
THREADS ?= 1
study-full:
	@mkdir -p logs
	FGKF_CHECKPOINTS=$(FGKF_CHECKPOINTS) nohup nice -n 19 $(PYTHON) -m fgkf_core sweep --plan study/full.yaml --workers $(WORKERS) --threads $(THREADS) $(if $(HOURS),--hours $(HOURS)) $(if $(PERSISTENT),--persistent) --quiet >> logs/full.log 2>&1 &
	@echo "full-profile queue started; progress: tail -f logs/full.log (or make study-status)"

device-data:
	rm -rf .devdata && mkdir -p .devdata
	@set -e; for d in $$($(PYTHON) -m fgkf_core data folders $(DEVICE_TASKS)); do cp -r "$(FGKF_DATA)/$$d" .devdata/; done
	@du -sh .devdata; echo "carry .devdata to the device tool: bash study/device.sh MINUTES [TIER ...]"

study-status:
	@FGKF_CHECKPOINTS=$(FGKF_CHECKPOINTS) $(PYTHON) -m fgkf_core sweep --plan study/full.yaml --status

check-notebooks:
	$(PYTHON) book/_ext/nbcheck.py $(filter-out %.failed.ipynb,$(wildcard book/experiments/*.ipynb))

book: check-notebooks
	$(JUPYTER_BOOK) build book/

# the outputs `pytest --nbval` compares (cells tagged nbval-check-output), from a smoke execution
notebook-refs:
	$(PYTHON) book/_ext/nbrefs.py notebooks/*.ipynb

test:
	$(PYTHON) -m pytest --nbval -q

clean-book:
	rm -rf book/_build
