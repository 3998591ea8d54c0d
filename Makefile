# Two commands do all set-up on a fresh machine: `make reproduce` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install reproduce fashion test figures lab data clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)  ## every notebook, every table row and family sweep at the embedded profile, the MAGE token NLL, then 10_analysis
	$(PY) -m l2l_utils.runner --profile embedded --only '0[0-9]_*.ipynb'
	$(PY) -m l2l_utils.sweep configs/embedded/*__*.yaml
	$(PY) scripts/mage_token_nll.py --profile embedded
	$(PY) scripts/latent_separability.py --profile embedded --family mage
	$(PY) scripts/latent_separability.py --profile embedded --family mae
	$(PY) -m l2l_utils.runner --profile embedded --only 10_analysis.ipynb

FASHION_RUNS := $(addprefix runs/fashion/03_unlearn_vqgan, _alpha0.2_seed0.pt _alpha0.2_steps1200_seed0.pt \
	_alpha0.2_steps3000_seed0.pt _alpha1.0_seed0.pt __retain_label_alpha0.2_seed0.pt __max_loss_alpha0.2_seed0.pt)

fashion: $(STAMP)  ## the VQ-GAN family at the fashion profile: the 03 table rows, its 06/07 sweeps, recognised fills, latents
	$(PY) -m l2l_utils.sweep configs/fashion/*.yaml
	$(PY) scripts/mage_recognised_fills.py --profile fashion
	$(PY) scripts/latent_separability.py --profile fashion --family mage --checkpoints $(FASHION_RUNS)

figures: $(STAMP)  ## rerun 10_analysis over the existing results/embedded/ (no training) -> figures/embedded/
	$(PY) -m l2l_utils.runner --profile embedded --only 10_analysis.ipynb

test: $(STAMP)  ## unit tests + every notebook at the smoke profile
	$(PY) -m pytest -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

data:  ## rebuild data/ from the Debian packages openclipart-png and dataset-fashion-mnist
	$(PY) scripts/build_embedded_data.py

clean:  ## executed notebooks and unlearning checkpoints (results/ and figures/ stay)
	rm -rf runs
