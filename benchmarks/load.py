"""Many people forgetting at once: start the app, drive N browser sessions against it, report.

    python benchmarks/load.py --sessions 4 --rounds 3            # a table
    python benchmarks/load.py --sessions 8 --rounds 3 --json     # one JSON object
    python benchmarks/load.py --sessions 2 --model mlp-mnist5k   # another shipped model

Starts ``streamlit run app.py`` on a free port of 127.0.0.1 (headless, its own empty local models
folder), opens one headless Chromium (Debian's, ``--chromium``; the playwright package drives it,
Playwright's own browser download is not used) with one browser context per session, so each
session is a separate Streamlit session, as N people on N machines would be. All sessions work at
the same time: each opens the Forget page, and in every round chooses one class, presses Forget and
waits for the results. Session i forgets class (i + round) mod the number of classes, so sessions
that run at the same moment forget different classes, and every round differs from the previous one.

A round counts as completed when the results for exactly its own class are on the page and the
page's A_F, A_R and E_F equal the backend's own result for that class (computed here, before the
load starts, with the app's default method): a session that showed another session's class or
numbers, an error box, an exception, or a timeout counts as a failure. Latency is from the click
to the heading of the new results being visible ("result"), and to the app being idle again with
every figure drawn ("settled"). The app's memory is its resident set size, polled every 0.2 s over
the server process and any children (/proc/<pid>/status VmRSS), plus the kernel's own high-water
mark of the server process (VmHWM), which catches peaks between polls.

Bounded: at most 16 sessions and 50 rounds, every wait is capped (``--wait``), the whole load is
capped (``--deadline``); the server listens on 127.0.0.1 only and is stopped at the end, whatever
happens. Linux only (/proc). No timing here is asserted; the figures are reported.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.app_server import Server  # noqa: E402

MAX_SESSIONS, MAX_ROUNDS = 16, 50
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
SCRIPT_STATE = "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
METRICS = ("A_F · forgotten classes", "A_R · remaining classes", "E_F · accuracy removed")


# --- the server and its memory ---------------------------------------------------------------------

def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant, from /proc/<pid>/task/<tid>/children."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


class MemoryWatch:
    """Polls the resident memory of a process tree in a thread; keeps the peak and the samples."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every = pid, every
        self.peak_kib = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now_kib(self) -> int:
        return sum(_status_kib(p, "VmRSS") for p in process_tree(self.pid))

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            kib = self.now_kib()
            self.peak_kib = max(self.peak_kib, kib)
            self.samples.append((time.monotonic() - t0, kib))
            self._stop.wait(self.every)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


# --- what the app should show ------------------------------------------------------------------------

def model_path(stem: str | None) -> Path:
    from unlearning.storage.folders import SHIPPED_DIR, default_model_path

    if stem is None:
        return default_model_path()
    path = SHIPPED_DIR / f"{stem}.safetensors"
    if not path.is_file():
        raise SystemExit(f"no shipped model {stem!r} in {SHIPPED_DIR}")
    return path


def expected_metrics(path: Path, classes: list[int]) -> tuple[list[str], dict[int, dict[str, str]]]:
    """The page's A_F, A_R, E_F for each class, from the backend with the app's default method on the CPU."""

    from ui import method_text
    from unlearning.methods import registry as methods
    from unlearning.storage.checkpoints import load_checkpoint
    from unlearning.data import load_dataset
    from unlearning.pipeline import forget_and_evaluate

    ckpt = load_checkpoint(path)
    splits = load_dataset(ckpt.meta["dataset"])
    mode = method_text.default_mode()
    kwargs = {"mode": mode, "calibration": splits.val if methods.reads_validation(mode) else None}
    out = {}
    for c in classes:
        o = forget_and_evaluate(ckpt, splits.test, [c], device="cpu", **kwargs)
        out[c] = {METRICS[0]: f"{100 * o.after.forget_accuracy([c]):.1f}%",
                  METRICS[1]: f"{100 * o.after.retain_accuracy([c]):.1f}%",
                  METRICS[2]: f"{o.efficacy:.1f}%"}
    return list(ckpt.class_names), out


# --- one browser session ---------------------------------------------------------------------------------

@dataclass
class Round:
    session: int
    round: int
    klass: str
    ok: bool
    result_s: float | None = None
    settled_s: float | None = None
    error: str | None = None


@dataclass
class SessionLog:
    rounds: list[Round] = field(default_factory=list)
    open_s: float | None = None
    error: str | None = None


async def _idle(page, wait_ms: int, started_ms: int = 1500) -> None:
    """Wait for the rerun an action caused to end: first for it to start (briefly: it may already have
    ended), then for the app's script state to be "notRunning" again."""
    if started_ms:
        try:
            await page.wait_for_function(f"() => ({SCRIPT_STATE})() === 'running'", timeout=started_ms)
        except Exception:  # noqa: BLE001 - too quick to see, or no rerun at all
            pass
    await page.wait_for_function(f"() => ({SCRIPT_STATE})() === 'notRunning'", timeout=wait_ms)


async def _choose(page, class_name: str, wait_ms: int) -> None:
    """Make the class picker hold exactly ``class_name``."""
    box = page.get_by_test_id("stMultiSelect")
    clear = box.get_by_role("button", name="Clear all")
    if await clear.count():
        await clear.click()
        await _idle(page, wait_ms)
    await box.get_by_role("combobox").click()
    await page.keyboard.type(class_name)
    await page.keyboard.press("Enter")
    await page.keyboard.press("Escape")
    await _idle(page, wait_ms)
    chips = [t.strip() for t in await box.get_by_role("button").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label') || '')")]
    chosen = sorted(c.removeprefix("Remove ") for c in chips if c.startswith("Remove "))
    if chosen != [class_name]:
        raise RuntimeError(f"class picker holds {chosen}, not [{class_name!r}]")


async def _page_problem(page) -> str | None:
    """An exception or error box on the page, as text; None when there is none."""
    for test_id in ("stException", "stAlertContentError"):
        loc = page.get_by_test_id(test_id)
        if await loc.count():
            text = (await loc.first.inner_text()).strip()
            return f"{test_id}: {text.splitlines()[0][:300] if text else '(empty)'}"
    return None


async def run_session(index: int, browser, url: str, model_label: str | None, names: list[str],
                      expected: dict[int, dict[str, str]], rounds: int, wait_ms: int, log: SessionLog,
                      start: asyncio.Event) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        t0 = time.perf_counter()
        await page.goto(f"{url}/unlearn", timeout=wait_ms)
        await page.get_by_role("heading", name="Forget classes", exact=True).wait_for(timeout=wait_ms)
        await _idle(page, wait_ms)
        if model_label is not None:
            picker = page.get_by_role("combobox", name="Model")
            await picker.click()
            await page.keyboard.type(model_label)
            await page.keyboard.press("Enter")
            await _idle(page, wait_ms)
            await expect(picker).to_have_value(model_label, timeout=wait_ms)
            await page.get_by_test_id("stMultiSelect").wait_for(timeout=wait_ms)
        log.open_s = time.perf_counter() - t0
        await start.wait()  # every session starts its first round together
        for r in range(rounds):
            c = (index + r) % len(names)
            name = names[c]
            rec = Round(index, r, name, ok=False)
            log.rounds.append(rec)
            try:
                await _choose(page, name, wait_ms)
                button = page.get_by_role("button", name="Forget", exact=True)
                await expect(button).to_be_enabled(timeout=wait_ms)
                t_click = time.perf_counter()
                await button.click()
                heading = page.get_by_role("heading", name=f"Forgetting {name}: before and after", exact=True)
                await heading.wait_for(timeout=wait_ms)
                rec.result_s = time.perf_counter() - t_click
                await _idle(page, wait_ms, started_ms=0)  # the click's run showed its heading: it has started
                await page.get_by_test_id("stMetricValue").first.wait_for(timeout=wait_ms)
                rec.settled_s = time.perf_counter() - t_click
                problem = await _page_problem(page)
                headings = [h.strip() for h in await page.locator("h2").all_inner_texts()
                            if h.strip().startswith("Forgetting ")]
                labels = await page.get_by_test_id("stMetricLabel").all_inner_texts()
                values = await page.get_by_test_id("stMetricValue").all_inner_texts()
                shown = {k.strip(): v.strip() for k, v in zip(labels, values)}
                got = {k: shown.get(k) for k in METRICS}
                if problem:
                    rec.error = problem
                elif headings != [f"Forgetting {name}: before and after"]:
                    rec.error = f"page shows {headings}, this session forgot {name!r}"
                elif got != expected[c]:
                    rec.error = f"numbers {got} differ from the backend's {expected[c]} for {name!r}"
                else:
                    rec.ok = True
            except Exception as e:  # noqa: BLE001 - a failed round is counted and reported, the load goes on
                rec.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
                if "Timeout" in type(e).__name__ or "Target" in type(e).__name__:
                    break  # a session that timed out would only time out again
    except Exception as e:  # noqa: BLE001
        log.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
    finally:
        await context.close()


async def drive(url: str, chromium: str, sessions: int, rounds: int, model_label: str | None, names: list[str],
                expected: dict[int, dict[str, str]], wait_ms: int, deadline: float) -> tuple[list[SessionLog], float, bool]:
    from playwright.async_api import async_playwright

    logs = [SessionLog() for _ in range(sessions)]
    timed_out = False
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            start = asyncio.Event()
            tasks = [asyncio.create_task(run_session(i, browser, url, model_label, names, expected, rounds, wait_ms,
                                                     logs[i], start)) for i in range(sessions)]
            # Start the rounds once every session has its page open (or has failed to open it).
            async def release() -> None:
                while not all(log.open_s is not None or log.error for log in logs):
                    if all(t.done() for t in tasks):
                        break
                    await asyncio.sleep(0.1)
                start.set()
            t0 = time.perf_counter()
            done, pending = await asyncio.wait([asyncio.create_task(release()), *tasks], timeout=deadline)
            if pending:
                timed_out = True
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            elapsed = time.perf_counter() - t0
        finally:
            await browser.close()
    return logs, elapsed, timed_out


# --- the report ----------------------------------------------------------------------------------------

def machine() -> dict:
    import torch

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "load_average_before": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.cuda.is_available()}


def summarise(logs: list[SessionLog], args, elapsed: float, timed_out: bool, watch: MemoryWatch, hwm_kib: int,
              idle_kib: int, model: str, mode: str, startup_s: float) -> dict:
    rounds = [r for log in logs for r in log.rounds]
    ok = [r for r in rounds if r.ok]
    planned = args.sessions * args.rounds
    failures = planned - len(ok)
    lat = sorted(r.result_s for r in ok)
    settled = sorted(r.settled_s for r in ok)
    errors = [f"session {r.session} round {r.round} ({r.klass}): {r.error}" for r in rounds if r.error]
    errors += [f"session {i}: {log.error}" for i, log in enumerate(logs) if log.error]
    return {
        "sessions": args.sessions, "rounds": args.rounds, "model": model, "mode": mode,
        "server_threads": args.server_threads or "torch default",
        "requests": planned, "completed": len(ok), "failures": failures, "timed_out": timed_out,
        "latency_s": {"median": statistics.median(lat) if lat else None, "worst": max(lat) if lat else None,
                      "best": min(lat) if lat else None},
        "settled_s": {"median": statistics.median(settled) if settled else None,
                      "worst": max(settled) if settled else None},
        "page_open_s": {"median": statistics.median(x) if (x := [l.open_s for l in logs if l.open_s]) else None,
                        "worst": max(x) if x else None},
        "wall_s": elapsed, "throughput_per_min": 60 * len(ok) / elapsed if elapsed else None,
        "server_start_s": startup_s,
        "memory_mib": {"idle_after_start": idle_kib / 1024, "peak_polled": watch.peak_kib / 1024,
                       "peak_vmhwm": hwm_kib / 1024,
                       "end": (watch.samples[-1][1] / 1024) if watch.samples else None},
        "errors": errors[:20],
        "machine": machine_info,
    }


def table(rep: dict) -> str:
    lat, st_, mem = rep["latency_s"], rep["settled_s"], rep["memory_mib"]
    f = (lambda x: "–" if x is None else f"{x:.2f}")
    lines = [
        f"sessions {rep['sessions']} × rounds {rep['rounds']} on {rep['model']} ({rep['mode']}), "
        f"server threads: {rep['server_threads']}",
        f"completed {rep['completed']}/{rep['requests']}, failures {rep['failures']}"
        + (" (deadline reached)" if rep["timed_out"] else ""),
        f"click -> result visible: median {f(lat['median'])} s, worst {f(lat['worst'])} s, best {f(lat['best'])} s",
        f"click -> app idle, all drawn: median {f(st_['median'])} s, worst {f(st_['worst'])} s",
        f"wall {rep['wall_s']:.1f} s, {rep['throughput_per_min']:.1f} forgettings a minute" if rep["throughput_per_min"]
        else f"wall {rep['wall_s']:.1f} s",
        f"app memory (RSS): {mem['idle_after_start']:.0f} MiB after the first page, peak {mem['peak_polled']:.0f} MiB "
        f"polled, {mem['peak_vmhwm']:.0f} MiB high-water mark",
    ]
    lines += [f"  ! {e}" for e in rep["errors"]]
    m = rep["machine"]
    lines.append(f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, load average before "
                 f"{m['load_average_before']}, torch {m['torch']}, cuda {m['cuda']}")
    return "\n".join(lines)


machine_info: dict = {}


def main(argv: list[str] | None = None) -> int:
    global machine_info
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=4, help=f"concurrent browser sessions (1..{MAX_SESSIONS})")
    ap.add_argument("--rounds", type=int, default=3, help=f"forgettings per session (1..{MAX_ROUNDS})")
    ap.add_argument("--model", default=None, help="a shipped model's name (default: the app's default model)")
    ap.add_argument("--wait", type=float, default=300, help="seconds any one wait may take (default 300)")
    ap.add_argument("--deadline", type=float, default=1800, help="seconds the whole load may take (default 1800)")
    ap.add_argument("--server-threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the server (default: unset, torch's default)")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        ap.error(f"--rounds must be between 1 and {MAX_ROUNDS}")
    if not Path(args.chromium).is_file():
        ap.error(f"no Chromium at {args.chromium} (Debian: apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        ap.error("the playwright Python package is not installed (pip install playwright)")

    from ui import method_text
    from unlearning.storage.checkpoints import read_meta
    from unlearning.storage.folders import default_model_path

    machine_info = machine()
    path = model_path(args.model)
    meta = read_meta(path)
    names = list(meta["class_names"])
    used = sorted({(i + r) % len(names) for i in range(args.sessions) for r in range(args.rounds)})
    print(f"computing the backend's results for classes {[names[c] for c in used]} …", file=sys.stderr)
    names, expected = expected_metrics(path, used)
    stem = path.name.removesuffix(".safetensors")
    label = None if path == default_model_path() else stem  # the sidebar names shipped models by file

    with tempfile.TemporaryDirectory(prefix="unlearning-load-") as tmp:
        server = Server(Path(tmp), args.server_threads)
        try:
            startup = server.wait_ready()
            with MemoryWatch(server.proc.pid) as watch:
                # One page load first, so the shared caches (model, data, the original's evaluation) exist,
                # as they would on a server that has been up for a while; not counted.
                _, _, _ = asyncio.run(drive(server.url, args.chromium, 1, 0, label, names, expected,
                                            int(args.wait * 1000), args.wait))
                idle = watch.now_kib()
                print(f"server up in {startup:.1f} s, {idle / 1024:.0f} MiB; {args.sessions} sessions × "
                      f"{args.rounds} rounds …", file=sys.stderr)
                logs, elapsed, timed_out = asyncio.run(drive(server.url, args.chromium, args.sessions, args.rounds,
                                                             label, names, expected, int(args.wait * 1000),
                                                             args.deadline))
                hwm = _status_kib(server.proc.pid, "VmHWM")
        finally:
            server.stop()
    rep = summarise(logs, args, elapsed, timed_out, watch, hwm, idle, stem, method_text.default_mode(), startup)
    print(json.dumps(rep, indent=2) if args.json else table(rep))
    return 0 if rep["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
