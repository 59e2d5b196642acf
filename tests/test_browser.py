"""End to end in a real browser: `streamlit run app.py` on a free port, driven by Debian's Chromium.

Picks a class, forgets it, reads the numbers off the page and checks them against the backend, in
the light and the dark theme. Takes the screenshots the README shows: into a temporary folder, or
into $SCREENSHOTS when set (`make screenshots` sets it to docs/screenshots, to refresh the README's).
Skipped when Chromium or the playwright package is missing (`make browser` installs Chromium).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.app_server import Server

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SCREENSHOTS") or Path(tempfile.gettempdir()) / "unlearning-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WAIT_MS = 300_000  # generous: a loaded 2-core CI machine, where a click may wait for the depth check of the run before it (every depth, relearning)
VIEWPORT = {"width": 1440, "height": 1000}
PROJECTORS = [{"width": 1024, "height": 768}, {"width": 1280, "height": 800}]
PAGES = [("/", "Mnemonic Unlearning Studio"), ("/models", "Model"), ("/methods", "Compare methods"),
         ("/guided-tour", "Guided tour of the method"), ("/how-to-read", "How to read the plots")]

# Checked in the page itself: every metric card's value and label fits its box, no tab row scrolls,
# nothing sticks out to the right of the page, and in every chart no two texts overlap, no text is cut
# by the chart's edge and none is smaller than 14 px.
LAYOUT_CHECK = """() => {
  const problems = [];
  const clipped = el => el.clientWidth > 0 && (el.scrollWidth > el.clientWidth + 1);
  for (const sel of ['stMetricValue', 'stMetricLabel']) {
    for (const m of document.querySelectorAll(`[data-testid="${sel}"]`)) {
      if ([m, ...m.querySelectorAll('*')].some(clipped)) problems.push(`${sel} cut: ${m.innerText.trim()}`);
    }
  }
  for (const t of document.querySelectorAll('[data-baseweb="tab-list"]')) {
    if (t.scrollWidth > t.clientWidth + 1) problems.push(`tabs scroll: ${t.innerText.replace(/\\n/g, ' | ')}`);
  }
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const right = main.getBoundingClientRect().right;
  for (const el of main.querySelectorAll('[data-testid="stElementContainer"], table')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 1) problems.push(`past the right edge: ${el.innerText.slice(0, 40)}`);
  }
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    const box = p.getBoundingClientRect();
    if (box.width === 0) continue;  // a chart in a tab that is not shown
    const texts = [...p.querySelectorAll('.annotation-text, .gtitle, .g-gtitle text, .xtitle, .ytitle, .legendtext, '
                                         + '.bartext, .xtick text, .ytick text')]
      .filter(t => t.getBoundingClientRect().width > 0 && t.textContent.trim());
    const rects = texts.map(t => t.getBoundingClientRect());
    for (let i = 0; i < rects.length; i++) {
      const a = rects[i], name = texts[i].textContent.slice(0, 30);
      if (a.left < box.left - 1 || a.right > box.right + 1 || a.top < box.top - 1) problems.push(`cut: ${name}`);
      const px = parseFloat(getComputedStyle(texts[i]).fontSize);
      if (px < 14) problems.push(`${px} px: ${name}`);
      for (let j = i + 1; j < rects.length; j++) {
        const b = rects[j];
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
          problems.push(`overlap: ${name} / ${texts[j].textContent.slice(0, 30)}`);
      }
    }
  }
  return problems;
}"""

# Checked in the page itself (issue 21): every drawn trace (bars, lines, markers) has WCAG's 3:1 contrast
# against the page background and every chart text 4.5:1; heatmap cell numbers 4.5:1 against their own
# cell and inside it; no table column is cut and no table shows a raw "None".
CONTRAST_CHECK = """() => {
  const problems = [];
  const rgb = s => { const m = (s || '').match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(',').map(Number); return (v.length > 3 && v[3] === 0) ? null : v.slice(0, 3); };
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const bg = rgb(getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor);
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    if (p.getBoundingClientRect().width === 0) continue;
    const title = (p.querySelector('.gtitle') || {}).textContent || 'chart';
    const seen = new Set();
    for (const el of p.querySelectorAll('.barlayer path, .scatterlayer path.js-line, .scatterlayer path.point, '
                                        + '.shapelayer path')) {
      const cs = getComputedStyle(el);
      const fill = el.closest('.scatterlayer') && el.classList.contains('js-line') ? rgb(cs.stroke) : (rgb(cs.fill) || rgb(cs.stroke));
      if (!fill || el.getBoundingClientRect().width === 0) continue;
      if (parseFloat(cs.opacity || '1') < 0.5 || parseFloat(cs.fillOpacity || '1') < 0.5 && !el.closest('.scatterlayer')) continue;
      const r = ratio(fill, bg);
      const key = fill.join(',');
      if (r < 3 && !seen.has(key)) { seen.add(key); problems.push(`${title.slice(0, 30)}: trace rgb(${key}) ${r.toFixed(2)}:1`); }
    }
    for (const t of p.querySelectorAll('.xtick text, .ytick text, .xtitle, .ytitle, .legendtext, .gtitle, .annotation-text')) {
      const c = rgb(getComputedStyle(t).fill);
      if (c && t.textContent.trim() && ratio(c, bg) < 4.5) problems.push(`${title.slice(0, 30)}: text "${t.textContent.slice(0, 20)}" ${ratio(c, bg).toFixed(2)}:1`);
    }
  }
  return problems;
}"""

# Heatmap cell numbers (the confusion matrices): each inside its cell and 4.5:1 against the cell's own
# colour, read from the heatmap's image (one pixel per cell) at the number's centre.
HEATMAP_CHECK = """async () => {
  const problems = [];
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  for (const hm of document.querySelectorAll('.js-plotly-plot .hm')) {
    const img = hm.querySelector('image');
    const box = img.getBoundingClientRect();
    if (box.width === 0) continue;
    const pic = new Image();
    pic.src = img.getAttribute('xlink:href') || img.getAttribute('href');
    await pic.decode();
    const canvas = document.createElement('canvas');
    canvas.width = pic.width; canvas.height = pic.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(pic, 0, 0);
    const cw = box.width / pic.width, ch = box.height / pic.height;
    for (const t of hm.querySelectorAll('.heatmap-label text')) {
      if (!t.textContent.trim()) continue;
      const r = t.getBoundingClientRect();
      if (r.width > cw + 1) problems.push(`cell number wider than its cell: ${t.textContent} (${r.width.toFixed(0)} > ${cw.toFixed(0)} px)`);
      const col = Math.min(pic.width - 1, Math.floor((r.left + r.width / 2 - box.left) / cw));
      const row = Math.min(pic.height - 1, Math.floor((r.top + r.height / 2 - box.top) / ch));
      const cell = [...ctx.getImageData(col, row, 1, 1).data.slice(0, 3)];
      const m = getComputedStyle(t).fill.match(/\\d+/g).map(Number).slice(0, 3);
      if (ratio(m, cell) < 4.5) problems.push(`cell number ${t.textContent}: ${ratio(m, cell).toFixed(2)}:1 on rgb(${cell})`);
    }
  }
  return problems;
}"""

TABLE_CHECK = """() => {
  const problems = [];
  for (const t of document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]')) {
    if (t.innerText.includes('None')) problems.push(`table shows None: ${t.innerText.slice(0, 40)}`);
    const box = t.getBoundingClientRect();
    for (const h of t.querySelectorAll('th, [role="columnheader"]')) {
      const r = h.getBoundingClientRect();
      if (r.width > 0 && (r.right > box.right + 1)) problems.push(`column cut: ${h.innerText.slice(0, 20)}`);
    }
  }
  return problems;
}"""

pytestmark = pytest.mark.browser  # every test here drives a real Chromium (`-m "not browser"` leaves them out)

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium, e.g. `make browser`)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh Streamlit server on the real app, with its own empty local models folder."""
    with Server(tmp_path_factory.mktemp("browser"), start_timeout=120) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def backend():
    """The backend's own results for the classes the browser forgets, on the default model."""

    from ui import method_text
    from unlearning.methods import registry as methods
    from unlearning.storage.checkpoints import load_checkpoint
    from unlearning.data import load_dataset
    from unlearning.pipeline import forget_and_evaluate
    from unlearning.storage.folders import default_model_path

    ckpt = load_checkpoint(default_model_path())
    splits = load_dataset("mnist5k")
    mode = method_text.default_mode()  # what the page runs unless the user picks another method
    kwargs = {"mode": mode, "calibration": splits.val if methods.reads_validation(mode) else None}
    return lambda classes: forget_and_evaluate(ckpt, splits.test, classes, device="cpu", **kwargs)


def _expected(outcome) -> dict[str, str]:
    c = outcome.result.forget_classes
    return {"A_F · forgotten classes": f"{100 * outcome.after.forget_accuracy(c):.1f}%",
            "A_R · remaining classes": f"{100 * outcome.after.retain_accuracy(c):.1f}%",
            "E_F · accuracy removed": f"{outcome.efficacy:.1f}%"}


def _default_label() -> str:
    """How the sidebar names the shipped default model."""
    from unlearning.storage.folders import default_model_path

    return default_model_path().name.removesuffix(".safetensors")


def _metrics(page) -> dict[str, str]:
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


# Every chart Streamlit has put on screen holds a Plotly plot that has laid itself out and drawn its SVG.
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => c.offsetParent !== null)
    .every(c => { const p = c.querySelector('.js-plotly-plot'); return p && p._fullLayout && p.querySelector('.main-svg'); })"""
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _script_done(page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached",
                           timeout=WAIT_MS)


def _settle(page) -> None:
    """Wait for the page's own events, never a fixed time: the app's script has finished, every visible chart
    has drawn, and the browser has painted since."""
    _script_done(page)
    page.wait_for_function(CHARTS_DRAWN, timeout=WAIT_MS)
    page.evaluate(TWO_FRAMES)


def _open_tab(page, name: str) -> None:
    """Open one of the Forget page's result tabs: only the open tab is drawn, so wait until its panel has
    content from the rerun the click starts, then let it settle."""
    page.get_by_role("tab", name=name).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=tabpanel]')].some(p => !p.hidden && p.offsetParent !== null"
        " && p.querySelector('[data-testid=stElementContainer]'))", timeout=WAIT_MS)
    _settle(page)


def _shot(page, name: str, viewport: dict | None = None) -> Path:
    """A screenshot of the whole page: the viewport is stretched to the height of the app's content."""
    viewport = viewport or VIEWPORT
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], min(int(height), 4000))})
    page.mouse.move(1, 1)  # no hover toolbars in the picture
    _settle(page)  # the taller viewport relays the charts out
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(viewport)
    return path


def _background_luminance(page) -> float:
    rgb = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    r, g, b = (int(v) for v in rgb[rgb.index("(") + 1: rgb.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _goto_page(page, link: str, heading: str) -> None:
    """Navigate with the sidebar, keeping the session (a new URL would start a new one). The page must have
    finished its run first: a click that lands while a fragment's ``st.rerun(scope="app")`` is starting (the
    Model page right after a cancelled training) can be dropped by Streamlit, and the page never came (1 run
    in 3 of the suite on 2026-12-05); so wait for the script to stop, and click again if the page does not
    come within a minute, as a person would."""
    heading_shown = page.get_by_role("heading", name=heading, exact=True)
    deadline = time.perf_counter() + WAIT_MS / 1000
    while True:
        _script_done(page)
        page.get_by_test_id("stSidebarNav").get_by_text(link, exact=True).click()
        try:
            heading_shown.wait_for(timeout=min(60_000, max(1, int(1000 * (deadline - time.perf_counter())))))
            return
        except sync_api.TimeoutError:
            if time.perf_counter() >= deadline:
                raise


def _forget(page, class_name: str) -> float:
    """Choose one class on the Forget page, press Forget, wait for the results; seconds it took."""
    box = page.get_by_test_id("stMultiSelect")
    box.click()
    for _ in range(box.locator("[data-tag]").count()):  # a class chosen before (by the demo)
        page.keyboard.press("Backspace")
    page.keyboard.type(class_name)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    button = page.get_by_role("button", name="Forget", exact=True)
    sync_api.expect(button).to_be_enabled(timeout=WAIT_MS)
    start = time.perf_counter()
    button.click()
    page.get_by_role("heading", name=f"Forgetting {class_name}: before and after").wait_for(timeout=WAIT_MS)
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - start


def _layout_problems(page) -> list[str]:
    return page.evaluate(LAYOUT_CHECK)


def _run_url(server: str, classes: list[str], mode: str) -> str:
    from urllib.parse import urlencode

    return f"{server}/unlearn?" + urlencode({"model": _default_label(), "forget": classes, "method": mode}, doseq=True)


def _downloads(page, verdict: str) -> None:
    """The report and the unlearned model download from the real server (made on click, in another thread)."""
    from unlearning.storage.checkpoints import load_checkpoint

    with page.expect_download(timeout=WAIT_MS) as info:
        page.get_by_role("button", name="Report (HTML)").click()
    html = Path(info.value.path()).read_text(encoding="utf-8")
    assert info.value.suggested_filename.endswith(".html")
    assert html.startswith("<!DOCTYPE html>") and verdict.replace("'", "&#x27;") in html and "Plotly" in html
    with page.expect_download(timeout=WAIT_MS) as info:
        page.get_by_role("button", name="Unlearned model (.safetensors)").click()
    meta = load_checkpoint(info.value.path()).meta
    assert meta["forgotten"]["forget_classes"] == [2]


def _train_and_cancel(page) -> None:
    """Start training on the Model page, watch the live curves, cancel: nothing is saved or selected."""
    page.get_by_role("tab", name="Train a new model").click()
    epochs = page.get_by_label("Epochs")
    epochs.fill("300")
    epochs.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Training mlp-mnist5k-e300-s0: epoch ([3-9]|\d\d+) of 300")).wait_for(timeout=WAIT_MS)
    page.wait_for_function(CHARTS_DRAWN, timeout=WAIT_MS)  # the live curves
    _shot(page, "model-training")
    page.get_by_role("button", name="Cancel training").click()
    page.get_by_text("Cancelled mlp-mnist5k-e300-s0").wait_for(timeout=WAIT_MS)
    page.get_by_text("nothing was saved").wait_for(timeout=WAIT_MS)
    sync_api.expect(page.get_by_role("combobox", name="Model")).to_have_value(_default_label())


def test_a_runs_address_on_a_fresh_server_shows_that_run_and_a_refresh_keeps_it(server, browser, backend):
    """The very first request to the server is a run's address: the page computes that run without a
    click (numbers equal to the backend's), the sidebar is there, no "Page not found"; same after a refresh."""
    from ui import method_text

    page = browser.new_page(viewport=PROJECTORS[0])
    page.goto(_run_url(server, ["3", "8"], method_text.default_mode()))
    want = _expected(backend([3, 8]))
    for attempt in ("opened", "refreshed"):
        page.get_by_role("heading", name="Forgetting 3, 8: before and after").wait_for(timeout=WAIT_MS)
        page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
        got = _metrics(page)
        assert {k: got.get(k) for k in want} == want, attempt
        sync_api.expect(page.get_by_role("combobox", name="Model")).to_have_value(_default_label())
        assert page.get_by_text("Page not found").count() == 0, attempt
        assert page.get_by_test_id("stMultiSelect").get_by_text("3", exact=True).count() == 1
        if attempt == "opened":
            _settle(page)
            page.reload()
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", PROJECTORS, ids=lambda v: f"{v['width']}x{v['height']}")
def test_every_page_fits_a_projector(server, browser, size, scheme):
    """At 1024x768 and 1280x800, light and dark: nothing cut, nothing overlapping, chart text >= 14 px,
    on every page (the Forget page with a run, each of its tabs); 1024x768 dark in Presenter mode, as a
    presenter would. Writes the screenshots."""
    context = browser.new_context(viewport=size, color_scheme=scheme)
    page = context.new_page()
    presenter = size == PROJECTORS[0] and scheme == "dark"  # the presenter's walk: 1024x768, dark, Presenter mode
    tag = f"{size['width']}x{size['height']}-{scheme}" + ("-presenter" if presenter else "")
    extra = "&present=1" if presenter else ""
    problems: dict[str, list[str]] = {}
    from ui import method_text

    page.goto(_run_url(server, ["2"], method_text.default_mode()) + extra)
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
    _settle(page)
    tabs = page.get_by_role("tab").all_inner_texts()
    assert len(tabs) >= 5
    for tab in tabs:
        _open_tab(page, tab)
        problems[f"Forget · {tab}"] = _layout_problems(page)
    _shot(page, f"projector-forget-{tag}", size)
    for path, heading in PAGES:
        page.goto(server + path + ("?present=1" if presenter else ""))
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=WAIT_MS)
        _settle(page)
        if path == "/":
            page.get_by_role("button", name="Forget 7 now").click()
            page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
            _settle(page)
        assert page.get_by_text("Page not found").count() == 0, path
        problems[path] = _layout_problems(page)
        _shot(page, f"projector{path.replace('/', '-').rstrip('-') or '-overview'}-{tag}", size)
    context.close()
    assert not {k: v for k, v in problems.items() if v}, problems


def _same_document(page) -> bool:
    """True while the browser page was not reloaded since ``_mark`` (a reload is a new session)."""
    return page.evaluate("() => window.__musMark === 1")


def _mark(page) -> None:
    page.evaluate("() => { window.__musMark = 1; }")


def test_theme_presenter_mode_and_page_moves_keep_the_last_run(server, browser):
    """Issue 21: once a theme was chosen, every page move reloaded the browser page (a new session, the
    last run lost). Now: the choice reloads once and keeps the run; page moves, the audit link, Presenter
    mode and its page switcher keep the same page and session."""
    page = browser.new_page(viewport=PROJECTORS[0], color_scheme="light")
    page.goto(server)
    page.get_by_role("button", name="Forget 7 now").click()
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
    _settle(page)
    assert _background_luminance(page) > 0.8
    page.get_by_test_id("stSidebar").get_by_text("Dark", exact=True).click()
    page.wait_for_url(re.compile(r"theme=dark"), timeout=WAIT_MS)
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)  # the demo run survived the reload
    _settle(page)
    assert _background_luminance(page) < 0.2
    _mark(page)
    _goto_page(page, "Forget", "Forget classes")
    page.get_by_role("heading", name="Forgetting 7: before and after").wait_for(timeout=WAIT_MS)
    _settle(page)
    assert _same_document(page) and "theme=dark" in page.url and _background_luminance(page) < 0.2
    page.get_by_text("See the whole audit: is it gone?").click()
    page.get_by_role("heading", name=re.compile(r"Forgetting 7 with")).wait_for(timeout=WAIT_MS)
    _settle(page)
    assert _same_document(page) and page.get_by_text("Forget a class first").count() == 0
    page.get_by_test_id("stSidebar").get_by_text("Presenter mode").click()
    bar = page.locator(".st-key-presenter_bar")
    bar.wait_for(timeout=WAIT_MS)
    _settle(page)
    _shot(page, "presenter-audit-1024x768-dark", PROJECTORS[0])
    bar.get_by_text("Compare", exact=True).click()
    page.get_by_role("heading", name="Compare methods").wait_for(timeout=WAIT_MS)
    _settle(page)
    tags = page.get_by_test_id("stMultiSelect").first.locator("[data-tag]")  # "Classes to forget"
    sync_api.expect(tags).to_have_count(1, timeout=WAIT_MS)  # Compare starts from the last run's classes
    sync_api.expect(tags.first).to_have_attribute("aria-label", "7")
    assert _same_document(page) and "present=1" in page.url
    page.locator(".st-key-presenter_bar").get_by_role("button", name="Leave presenter mode").click()
    page.get_by_test_id("stSidebar").wait_for(timeout=WAIT_MS)
    _settle(page)
    assert _same_document(page) and _background_luminance(page) < 0.2
    page.reload()  # the choice survives a refresh
    _settle(page)
    assert _background_luminance(page) < 0.2
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_forget_in_the_browser_shows_the_backends_numbers(server, browser, backend, scheme):
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    suffix = "" if scheme == "light" else "-dark"

    # Overview: the one-click demo on the default model
    t0 = time.perf_counter()
    page.goto(server)
    demo = page.get_by_role("button", name="Forget 7 now")
    demo.wait_for(timeout=WAIT_MS)
    shown = time.perf_counter() - t0
    _settle(page)  # the page has finished loading (the script, including its head start on the demo)
    loaded = time.perf_counter() - t0
    lum = _background_luminance(page)
    assert (lum > 0.8) if scheme == "light" else (lum < 0.2), f"{scheme} theme has background luminance {lum:.2f}"
    start = time.perf_counter()
    demo.click()
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
    first_result = time.perf_counter() - start
    print(f"\n[{scheme}] overview shown {shown:.2f} s, loaded {loaded:.2f} s; "
          f"first forgetting result {first_result:.2f} s after the click")
    assert _metrics(page) == {**_expected(backend([7])), "Time to forget": _metrics(page)["Time to forget"]}
    _settle(page)
    _shot(page, f"overview{suffix}")

    # Forget: the demo's run, with its class in the picker and the button enabled
    _goto_page(page, "Forget", "Forget classes")
    tags = page.get_by_test_id("stMultiSelect").locator("[data-tag]")
    _settle(page)  # a loaded machine draws the picker seconds after the heading
    sync_api.expect(tags).to_have_count(1, timeout=WAIT_MS)
    sync_api.expect(tags.first).to_have_attribute("aria-label", "7")
    sync_api.expect(page.get_by_role("button", name="Forget", exact=True)).to_be_enabled(timeout=WAIT_MS)
    # then pick another class by name, forget it, read the numbers
    seconds = _forget(page, "2")
    print(f"[{scheme}] forget page: result {seconds:.2f} s after the click")
    got = _metrics(page)
    want = _expected(backend([2]))
    assert {k: got[k] for k in want} == want
    verdict = backend([2]).verdict.message
    sync_api.expect(page.get_by_text(verdict)).to_be_visible()
    assert page.locator(".js-plotly-plot").count() >= 1
    _settle(page)
    _shot(page, f"forget{suffix}")

    if scheme == "light":
        _downloads(page, verdict)
        for tab, name in (("Sensitivity", "forget-sensitivity"), ("Test images", "forget-images"),
                          ("Confusion", "forget-confusion")):
            _open_tab(page, tab)
            _shot(page, name)
        _goto_page(page, "Model", "Model")
        page.get_by_role("tab", name="Upload a model").wait_for(timeout=WAIT_MS)
        _settle(page)
        _shot(page, "model")
        _train_and_cancel(page)
        _goto_page(page, "How to read the plots", "How to read the plots")
        _settle(page)
        _shot(page, "guide")
    context.close()


def test_the_audit_view_in_the_browser(server, browser):
    """Forget digit 1, open "Is it gone?": the verdict is the backend's depth check, the charts are drawn,
    relearning runs behind its button; the screenshot is audit.png."""
    from unlearning.storage.checkpoints import load_checkpoint
    from unlearning.data import load_dataset
    from unlearning.pipeline import check_depth, forget_and_evaluate
    from unlearning.methods import registry as methods
    from unlearning.storage.folders import default_model_path
    from ui import method_text

    ckpt = load_checkpoint(default_model_path())
    splits = load_dataset(ckpt.meta["dataset"])
    mode = method_text.default_mode()
    want = check_depth(ckpt, forget_and_evaluate(ckpt, splits.test, [1], device="cpu", mode=mode,
                                                 calibration=splits.val if methods.reads_validation(mode) else None),
                       splits)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server)  # through the sidebar, as a user would (a page opened by URL on a busy server can be inert)
    page.get_by_role("button", name="Forget 7 now").wait_for(timeout=WAIT_MS)
    _settle(page)
    _goto_page(page, "Forget", "Forget classes")
    _settle(page)
    _forget(page, "1")
    _settle(page)
    _goto_page(page, "Is it gone?", "Is it gone?")
    page.get_by_text(want.depth.verdict.message).first.wait_for(timeout=WAIT_MS)
    _settle(page)
    assert page.locator(".js-plotly-plot").count() >= 4  # recoverability, embeddings, CKA, attacks
    page.get_by_role("button", name="Run relearning and the 50-shot probe").click()
    page.get_by_text("Relearning: forgotten classes").first.wait_for(timeout=WAIT_MS)
    _settle(page)
    assert page.locator(".js-plotly-plot").count() >= 5
    assert page.evaluate(TABLE_CHECK) == []  # no raw None, no cut column in the audit table
    _shot(page, "audit")
    page.set_viewport_size(PROJECTORS[0])  # on a projector: the embedding names and CKA layers must not collide
    _settle(page)
    problems = page.evaluate(LAYOUT_CHECK) + page.evaluate(TABLE_CHECK)
    _shot(page, "audit-1024x768", PROJECTORS[0])
    context.close()
    assert problems == [], problems


def _owner_in(url: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(url).query).get("owner") or [None])[-1]


def _model_options(page) -> list[str]:
    """The sidebar's model picker, as listed when opened."""
    page.get_by_role("combobox", name="Model").click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [o.strip() for o in options]


def test_a_sessions_upload_is_its_own_through_page_moves_and_a_refresh(server, browser):
    """Issue 12 item 8 in a real browser: the owner key is put in the address on the first visit, moving
    between pages (which clears Streamlit's query) keeps it, a refresh keeps the upload as "(yours)",
    and another browser never lists it."""
    from unlearning.storage.folders import default_model_path, is_owner

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{server}/models")
    page.get_by_role("heading", name="Model", exact=True).wait_for(timeout=WAIT_MS)
    _settle(page)
    key = _owner_in(page.url)
    assert is_owner(key), page.url
    page.get_by_test_id("stFileUploader").locator('input[type="file"]').set_input_files(
        {"name": "browser upload.safetensors", "mimeType": "application/octet-stream",
         "buffer": default_model_path().read_bytes()})
    sync_api.expect(page.get_by_role("combobox", name="Model")).to_have_value("browser-upload (yours)",
                                                                               timeout=WAIT_MS)
    _goto_page(page, "Forget", "Forget classes")
    _settle(page)
    assert _owner_in(page.url) == key, page.url
    page.reload()
    page.get_by_role("heading", name="Forget classes", exact=True).wait_for(timeout=WAIT_MS)
    _settle(page)
    assert _owner_in(page.url) == key, page.url
    assert "browser-upload (yours)" in _model_options(page)
    other = browser.new_context(viewport=VIEWPORT).new_page()
    other.goto(f"{server}/models")
    other.get_by_role("heading", name="Model", exact=True).wait_for(timeout=WAIT_MS)
    _settle(other)
    assert is_owner(_owner_in(other.url)) and _owner_in(other.url) != key
    options = _model_options(other)
    assert _default_label() in options and not any(o.startswith("browser-upload") for o in options), options
    other.context.close()
    context.close()


def test_markdown_in_the_address_is_text_in_the_browser(server, browser):
    """Issue 20: a link or an image in ?model=, ?method=, ?l1= is shown as its text; nothing is linked or
    fetched (AppTest sees only the markdown source; GitHub's autolinks are found after parsing)."""
    from urllib.parse import quote

    page = browser.new_page(viewport=VIEWPORT)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    for query in ["model=" + quote("[Session expired - click here to sign in](https://evil.example/login)") + "&forget=3",
                  "model=" + quote("![t](https://evil.example/pixel.png)") + "&forget=3",
                  "model=mlp-mnist5k&forget=3&method=" + quote("[fix](https://evil.example)"),
                  "model=mlp-mnist5k&forget=3&method=paper&l1=" + quote("[fix](https://www.evil.example)"),
                  "model=mlp-mnist5k&" + "&".join(["forget=3"] * 999)]:
        page.goto(f"{server}/unlearn?{query}")
        alert = page.locator("[data-testid='stAlert']", has_text="link").first
        alert.wait_for(timeout=WAIT_MS)
        hrefs = page.eval_on_selector_all("a, img", "els => els.map(e => e.href || e.src)")
        assert not [h for h in hrefs if "evil.example" in h and not h.startswith(server)], (query[:60], hrefs)
        assert "](" in alert.inner_text() or "999 times" in alert.inner_text()
    page.close()
    assert not [u for u in fetched if u.startswith("https://") and "evil.example" in u]


def test_an_address_streamlit_throws_away_whole_is_named_on_the_page(server, browser):
    """Issue 20: over 1,000 parameters, Streamlit empties the address before any page runs; the page must still
    say that nothing from it was applied (checked in the browser: the server never sees it). At 999 it says nothing."""
    page = browser.new_page(viewport=VIEWPORT)
    for repeats, shown in ((999, False), (1001, True)):
        page.goto(f"{server}/unlearn?model=mlp-mnist5k&" + "&".join(["forget=3"] * repeats))
        _settle(page)
        box = page.locator(".address-dropped").first
        assert box.is_visible() == shown
        if shown:
            assert box.get_attribute("role") == "alert"
            assert "1,002 parameters" in box.inner_text() and "nothing it asked for" in box.inner_text()
    page.close()


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_the_unlearning_card_prints_on_one_page_and_opens_the_report(browser):
    """Issue 21 item 5: the card fits one A4 and one Letter page when printed from the browser, alone and
    as the report's first page (the report's own content starts on page 2)."""
    from datetime import datetime, timezone

    from ui import card, method_text, report, run_view
    from unlearning.storage.checkpoints import load_checkpoint
    from unlearning.data import load_dataset
    from unlearning.pipeline import check_depth
    from unlearning.storage.folders import default_model_path
    from unlearning.storage.checkpoints import weights_sha256

    ckpt = load_checkpoint(default_model_path())
    splits = load_dataset(ckpt.meta["dataset"])
    outcome = run_view.run_forgetting(ckpt, splits.test, [3, 8], 1e-5, 1e4, "cpu", mode=method_text.default_mode(),
                                      calibration=splits.val)
    outcome = check_depth(ckpt, outcome, splits, device="cpu")
    view = run_view.analyse(ckpt, outcome, splits.test, _default_label(), device="cpu")
    facts = card.CardFacts(datetime.now(timezone.utc), weights_sha256(ckpt), retrain_seconds=185.0)
    page = browser.new_page()
    page.set_content(card.card_document(view, facts))
    for fmt in ("A4", "Letter"):
        assert _pdf_pages(page.pdf(format=fmt, print_background=True)) == 1, fmt
    page.emulate_media(media="print")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "unlearning-card-print.png"), full_page=True)
    page.set_content(report.build_report(view, card_facts=facts))
    page.emulate_media(media="print")
    first = page.evaluate("() => { const r = document.querySelector('.ucard').getBoundingClientRect();"
                          " return [r.top, r.bottom]; }")
    assert first[1] > first[0] > -1
    pdf = page.pdf(format="A4", print_background=True)
    assert _pdf_pages(pdf) > 1  # the card, then the report from a new page
    page.close()


@pytest.mark.parametrize("size,scheme", [(PROJECTORS[0], "dark"), (PROJECTORS[1], "light")],
                         ids=["1024x768-dark", "1280x800-light"])
def test_traces_and_chart_text_have_wcag_contrast_on_the_forget_page(server, browser, size, scheme):
    """3:1 for every trace against the page, 4.5:1 for chart text, on every tab of the Forget page."""
    from ui import method_text

    context = browser.new_context(viewport=size, color_scheme=scheme)
    page = context.new_page()
    page.goto(_run_url(server, ["3", "8"], method_text.default_mode()))
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=WAIT_MS)
    page.get_by_text("See the whole audit: is it gone?").wait_for(timeout=WAIT_MS)  # the depth verdict is in
    _settle(page)
    problems = {}
    for tab in page.get_by_role("tab").all_inner_texts():
        _open_tab(page, tab)
        problems[tab] = page.evaluate(CONTRAST_CHECK) + page.evaluate(TABLE_CHECK)
        problems[tab] += page.evaluate(HEATMAP_CHECK)  # cell numbers inside their cell, 4.5:1 on its colour
        if tab == "Confusion":
            _shot(page, f"contrast-confusion-{size['width']}x{size['height']}-{scheme}", size)
    _shot(page, f"contrast-forget-{size['width']}x{size['height']}-{scheme}", size)
    context.close()
    print("\ncontrast problems:", {k: v for k, v in problems.items() if v})
    assert not {k: v for k, v in problems.items() if v}, problems
