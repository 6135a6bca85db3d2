"""Admission control: a process past its requests in flight lets a few wait their turn for
a bounded time and refuses the rest at once with 503 and ``Retry-After``."""

import os
import subprocess
import sys
import threading
import time

import falcon
import falcon.testing
import pytest

from loket.core.config import AppConfig
from loket.core.secrets import SecretBox
from loket.errors import ConfigurationError
from loket.server.admission import AdmissionMiddleware


class Work:
    """A request that runs until the test lets it finish."""

    def __init__(self):
        self.started = threading.Semaphore(0)
        self.finish = threading.Event()

    def on_get(self, req, resp):
        self.started.release()
        assert self.finish.wait(10)
        resp.media = {"done": True}

    def on_post(self, req, resp):
        raise RuntimeError("the work failed")


class Probe:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


@pytest.fixture
def serve():
    works = []

    def serve(limit: int, queue: int = 0, wait_ms: int = 0):
        work = Work()
        works.append(work)
        app = falcon.App(middleware=[AdmissionMiddleware(limit, queue, wait_ms)])
        app.add_route("/work", work)
        app.add_route("/health", Probe())
        return falcon.testing.TestClient(app), work

    yield serve
    for work in works:  # no request outlives its test
        work.finish.set()


def _in_background(client, path="/work"):
    answers = []
    thread = threading.Thread(target=lambda: answers.append(client.simulate_get(path)))
    thread.start()
    return thread, answers


def _running(client, work):
    thread, answers = _in_background(client)
    assert work.started.acquire(timeout=5), "the first request never started"
    return thread, answers


def test_past_its_requests_in_flight_a_process_refuses_at_once_and_gives_the_slot_back(serve):
    client, work = serve(limit=1)
    first, answers = _running(client, work)
    started = time.monotonic()
    refused = client.simulate_get("/work")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert time.monotonic() - started < 1
    work.finish.set()
    first.join(5)
    assert answers[0].status_code == 200
    assert client.simulate_get("/work").status_code == 200


def test_a_request_waiting_in_the_queue_runs_when_a_slot_frees(serve):
    client, work = serve(limit=1, queue=1, wait_ms=10_000)
    first, first_answers = _running(client, work)
    second, second_answers = _in_background(client)
    assert not work.started.acquire(timeout=0.3), "admitted beside the running request"
    work.finish.set()
    for thread in (first, second):
        thread.join(5)
    assert [a.status_code for a in first_answers + second_answers] == [200, 200]


def test_the_queue_is_bounded_and_the_rest_is_refused_at_once(serve):
    client, work = serve(limit=1, queue=1, wait_ms=10_000)
    first, _ = _running(client, work)
    second, second_answers = _in_background(client)
    third, third_answers = _in_background(client)
    deadline = time.monotonic() + 5
    while not (second_answers or third_answers) and time.monotonic() < deadline:
        time.sleep(0.01)
    answered = second_answers + third_answers  # one waits in the queue, one is refused
    assert [a.status_code for a in answered] == [503]
    work.finish.set()
    for thread in (first, second, third):
        thread.join(5)
    assert sorted(a.status_code for a in second_answers + third_answers) == [200, 503]


def test_a_queued_request_is_refused_when_its_wait_runs_out(serve):
    client, work = serve(limit=1, queue=1, wait_ms=200)
    first, _ = _running(client, work)
    started = time.monotonic()
    refused = client.simulate_get("/work")
    waited = time.monotonic() - started
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert 0.2 <= waited < 5
    work.finish.set()
    first.join(5)


def test_probes_are_let_in_while_every_slot_is_busy(serve):
    client, work = serve(limit=1)
    first, _ = _running(client, work)
    assert client.simulate_get("/health").status_code == 200
    work.finish.set()
    first.join(5)


def test_a_request_that_fails_gives_its_slot_back(serve):
    client, work = serve(limit=1, queue=1, wait_ms=100)
    assert client.simulate_post("/work").status_code == 500
    work.finish.set()
    assert client.simulate_get("/work").status_code == 200


def test_the_queue_is_read_from_the_environment():
    key = SecretBox.generate_key()
    config = AppConfig.from_env({"LOKET_SECRET_KEY": key, "LOKET_MAX_IN_FLIGHT": "2",
                                 "LOKET_ADMISSION_QUEUE": "4",
                                 "LOKET_ADMISSION_WAIT_MS": "250"})
    assert (config.max_in_flight, config.admission_queue, config.admission_wait_ms) == \
        (2, 4, 250)
    with pytest.raises(ConfigurationError, match="LOKET_ADMISSION_"):
        AppConfig.from_env({"LOKET_SECRET_KEY": key, "LOKET_ADMISSION_WAIT_MS": "soon"})


@pytest.mark.parametrize("given, expected", [
    ({"LOKET_THREADS": "8"}, ("6", "1", "100")),
    ({"LOKET_THREADS": "8", "LOKET_MAX_IN_FLIGHT": "2"}, ("2", "5", "100")),
    ({"LOKET_THREADS": "8", "LOKET_ADMISSION_QUEUE": "0"}, ("6", "0", "100")),
])
def test_threaded_workers_get_a_queue_of_the_threads_left_but_one(given, expected, tmp_path):
    shown = subprocess.run(
        [sys.executable, "-c", "import os, loket.server.gunicorn_conf; print(*(os.environ.get("
         "f'LOKET_{n}') for n in ('MAX_IN_FLIGHT', 'ADMISSION_QUEUE', 'ADMISSION_WAIT_MS')))"],
        env={**{k: v for k, v in os.environ.items()
                if not k.startswith(("LOKET_", "PROMETHEUS_"))},
             "LOKET_VAR_DIR": str(tmp_path), **given},
        capture_output=True, text=True, check=True)
    assert tuple(shown.stdout.split()) == expected
