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
    """Requests that run until the test lets them finish (each named by ``?name=``)."""

    def __init__(self):
        self.started = threading.Semaphore(0)
        self.order: list[str] = []
        self.finish = threading.Event()  # every request
        self._each: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def let_finish(self, name: str) -> None:
        """Let the request named ``name`` finish."""
        self._event(name).set()

    def _event(self, name: str) -> threading.Event:
        with self._lock:
            return self._each.setdefault(name, threading.Event())

    def on_get(self, req, resp):
        name = req.get_param("name") or ""
        self.order.append(name)
        self.started.release()
        mine = self._event(name)
        deadline = time.monotonic() + 10
        while not (mine.is_set() or self.finish.is_set()):
            assert time.monotonic() < deadline, "never told to finish"
            time.sleep(0.005)
        resp.media = {"done": name}

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
        admission = AdmissionMiddleware(limit, queue, wait_ms)
        app = falcon.App(middleware=[admission])
        app.add_route("/work", work)
        app.add_route("/health", Probe())
        return falcon.testing.TestClient(app), work, admission

    yield serve
    for work in works:  # no request outlives its test
        work.finish.set()


def _in_background(client, name=""):
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        client.simulate_get("/work", params={"name": name} if name else None)))
    thread.start()
    return thread, answers


def _running(client, work, name=""):
    thread, answers = _in_background(client, name)
    assert work.started.acquire(timeout=5), "the request never started"
    return thread, answers


def _queued(client, admission, name=""):
    before = admission.waiting
    thread, answers = _in_background(client, name)
    deadline = time.monotonic() + 5
    while admission.waiting == before:
        assert time.monotonic() < deadline and not answers, "the request never queued"
        time.sleep(0.005)
    return thread, answers


def test_past_its_requests_in_flight_a_process_refuses_at_once_and_gives_the_slot_back(serve):
    client, work, _ = serve(limit=1)
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
    client, work, admission = serve(limit=1, queue=1, wait_ms=10_000)
    first, first_answers = _running(client, work, "first")
    second, second_answers = _queued(client, admission, "second")
    assert work.order == ["first"]
    work.let_finish("first")
    first.join(5)
    work.finish.set()
    second.join(5)
    assert [a.status_code for a in first_answers + second_answers] == [200, 200]
    assert admission.waiting == 0


def test_a_freed_slot_goes_to_the_request_that_waited_longest(serve):
    client, work, admission = serve(limit=1, queue=2, wait_ms=10_000)
    first, _ = _running(client, work, "first")
    second, _ = _queued(client, admission, "second")
    work.let_finish("first")
    first.join(5)
    # The slot is the second's now, whether or not its thread has woken: a request
    # arriving now waits behind it.
    third, _ = _queued(client, admission, "third")
    assert work.started.acquire(timeout=5)
    work.let_finish("second")
    second.join(5)
    assert work.started.acquire(timeout=5)
    assert work.order == ["first", "second", "third"]
    work.finish.set()
    third.join(5)


def test_the_queue_is_bounded_and_the_rest_is_refused_at_once(serve):
    client, work, admission = serve(limit=1, queue=1, wait_ms=10_000)
    first, _ = _running(client, work)
    queued, queued_answers = _queued(client, admission)
    started = time.monotonic()
    refused = client.simulate_get("/work")
    assert refused.status_code == 503
    assert time.monotonic() - started < 1
    work.finish.set()
    for thread in (first, queued):
        thread.join(5)
    assert queued_answers[0].status_code == 200


def test_a_queued_request_is_refused_when_its_wait_runs_out_and_leaves_the_queue(serve):
    client, work, admission = serve(limit=1, queue=1, wait_ms=200)
    first, _ = _running(client, work)
    started = time.monotonic()
    refused = client.simulate_get("/work")
    waited = time.monotonic() - started
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert 0.2 <= waited < 5
    assert admission.waiting == 0
    # Its place is free again: the next request waits its turn too.
    assert client.simulate_get("/work").status_code == 503
    assert time.monotonic() - started >= 0.4
    work.finish.set()
    first.join(5)


def test_probes_are_let_in_while_every_slot_is_busy(serve):
    client, work, _ = serve(limit=1)
    first, _ = _running(client, work)
    assert client.simulate_get("/health").status_code == 200
    work.finish.set()
    first.join(5)


def test_a_request_that_fails_gives_its_slot_back(serve):
    client, work, _ = serve(limit=1, queue=1, wait_ms=100)
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
    with pytest.raises(ConfigurationError, match="LOKET_ADMISSION_QUEUE must be 0 or more"):
        AppConfig.from_env({"LOKET_SECRET_KEY": key, "LOKET_ADMISSION_QUEUE": "-1"})


@pytest.mark.parametrize("given, expected", [
    ({"LOKET_THREADS": "8"}, ("6", "1", "100")),
    ({"LOKET_THREADS": "8", "LOKET_MAX_IN_FLIGHT": "2"}, ("2", "5", "100")),
    ({"LOKET_THREADS": "8", "LOKET_ADMISSION_QUEUE": "0"}, ("6", "0", "100")),
    ({"LOKET_THREADS": "8", "LOKET_ADMISSION_QUEUE": "9"}, ("6", "1", "100")),
    ({"LOKET_THREADS": "4", "LOKET_MAX_IN_FLIGHT": "6"}, ("6", "0", "100")),
])
def test_threaded_workers_get_a_queue_of_at_most_the_threads_left_but_one(given, expected,
                                                                          tmp_path):
    shown = subprocess.run(
        [sys.executable, "-c", "import os, loket.server.gunicorn_conf; print(*(os.environ.get("
         "f'LOKET_{n}') for n in ('MAX_IN_FLIGHT', 'ADMISSION_QUEUE', 'ADMISSION_WAIT_MS')))"],
        env={**{k: v for k, v in os.environ.items()
                if not k.startswith(("LOKET_", "PROMETHEUS_"))},
             "LOKET_VAR_DIR": str(tmp_path), **given},
        capture_output=True, text=True, check=True)
    assert tuple(shown.stdout.split()) == expected
