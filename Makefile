# The two commands a fresh machine needs: `make app` and `make test`.
PYTHON ?= python3
PORT ?= 8501
# test workers: one per core of the 2-core CI machine (each file stays on one worker: its fixtures are built once)
WORKERS ?= 2

.PHONY: app test install install-dev browser fashion screenshots

install:
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q --no-deps -e .

install-dev:
	$(PYTHON) -m pip install -q -r requirements-dev.txt

# Debian's Chromium for the real-browser test (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium missing: the browser test will be skipped"; }

# Debian's full-size Fashion-MNIST (60,000 + 10,000 images, /usr/share/datasets/fashion-mnist) for the full-size zoo.
fashion:
	@[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) || echo "dataset-fashion-mnist missing (apt-get install dataset-fashion-mnist as root): the full-size models need it; everything else works"; }

app: install fashion
	$(PYTHON) -m streamlit run app.py --server.port $(PORT)

test: install-dev browser fashion
	$(PYTHON) -m pytest -q -n $(WORKERS) --dist loadfile

# Refresh the README's screenshots from the running app (the browser test, writing to docs/).
screenshots: install-dev browser
	SCREENSHOTS=docs/screenshots $(PYTHON) -m pytest -q tests/test_browser.py
