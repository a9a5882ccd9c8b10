"""A task sent through the real Redis broker runs in a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_task_round_trip_through_redis_and_a_worker_process(broker_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "CASESEARCH_BROKER_URL": broker_url,
           "CASESEARCH_DATA_DIR": str(tmp_path)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker",
         "--pool", "solo", "--loglevel", "WARNING", "-Q", "casesearch",
         "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        from schemas.settings import load_settings
        from workers.celery_app import make_celery

        app = make_celery(load_settings({"CASESEARCH_BROKER_URL": broker_url}))
        result = app.send_task("casesearch.ping", args=[21])
        assert result.get(timeout=60) == {"echo": 21, "doubled": 42}
        assert result.successful()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    time.sleep(0)
