"""A fresh `streamlit run app.py` for the benchmarks and the browser test: one way to start it and to know
it is up, instead of three copies.

    with Server(Path(tmp)) as server:   # 127.0.0.1:<free port>, its own empty models folder
        page.goto(server.url)
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` on 127.0.0.1:<free port>, with its own models folder; stopped on exit."""

    def __init__(self, workdir: Path, threads: int | None = None, start_timeout: float = 180):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "UNLEARNING_MODELS": str(workdir / "models")}
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads in the server
        self.log_path = workdir / "streamlit.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.start_timeout = start_timeout

    def wait_ready(self) -> float:
        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > self.start_timeout:
                raise RuntimeError(f"streamlit did not start:\n{self.log_path.read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> "Server":
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
