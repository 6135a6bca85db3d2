"""``loket reconcile report --in-worker`` and ``loket reconcile statement`` hand the file to
the worker and follow it; a file that cannot be read is named in one line, never a
traceback."""

import threading
import time

import pytest
from support.cli import cli_database
from support.object_store import ObjectStore

from loket.cli import main


@pytest.fixture
def env(tmp_path, monkeypatch):
    cli_database(tmp_path, monkeypatch)
    assert main(["demo"]) == 0  # the demo tenant, its sandbox gateway connected
    return tmp_path


def _worker_drains_once_queued(stop: threading.Event) -> None:
    while not stop.is_set():
        time.sleep(0.2)
        main(["jobs", "drain"])


def test_a_report_read_by_the_worker_shows_its_progress(env, tmp_path, capsys):
    report = tmp_path / "settlement.csv"
    header = "reference,payment_number,currency,amount,fee,net,settled_at,payout\n"
    report.write_text(header + "".join(
        f"sbx_gone_{i},PAY-GONE-{i},USD,10.00,0.59,9.41,2026-12-01T10:00:00+00:00,po_1\n"
        for i in range(3)))
    stop = threading.Event()
    worker = threading.Thread(target=_worker_drains_once_queued, args=(stop,), daemon=True)
    worker.start()
    try:
        assert main(["reconcile", "report", str(report), "--tenant", "demo", "--gateway",
                     "sandbox", "--in-worker"]) == 0
    finally:
        stop.set()
        worker.join()
    out, err = capsys.readouterr()
    assert "matched 0, already settled 0, unmatched 3" in out
    assert "queued; the worker" in err and "100% 3/3 lines" in err
    assert report.exists()  # the user's file was copied, never moved

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    stop.clear()
    worker = threading.Thread(target=_worker_drains_once_queued, args=(stop,), daemon=True)
    worker.start()
    try:
        assert main(["reconcile", "report", str(wrong), "--tenant", "demo", "--gateway",
                     "sandbox", "--in-worker", "--quiet"]) != 0
    finally:
        stop.set()
        worker.join()
    assert "failed: the sandbox settlement report lacks the column(s)" in capsys.readouterr().err


def test_a_report_at_a_url_is_fetched_and_handed_to_the_worker(env, monkeypatch, capsys):
    header = "reference,payment_number,currency,amount,fee,net,settled_at,payout\n"
    report = (header + "sbx_gone_1,PAY-GONE-1,USD,10.00,0.59,9.41,2026-12-01T10:00:00+00:00,"
              "po_1\n").encode()
    stop = threading.Event()
    worker = threading.Thread(target=_worker_drains_once_queued, args=(stop,), daemon=True)
    with ObjectStore({"/reports/november.csv": report}) as store:
        url = store.url("/reports/november.csv?signature=s3cr3t")
        assert main(["reconcile", "report", url, "--tenant", "demo", "--gateway",
                     "sandbox"]) != 0  # the host is not listed
        assert "LOKET_REPORT_URL_HOSTS" in capsys.readouterr().err
        monkeypatch.setenv("LOKET_REPORT_URL_HOSTS", store.host)
        worker.start()
        try:
            assert main(["reconcile", "report", url, "--tenant", "demo", "--gateway",
                         "sandbox"]) == 0
        finally:
            stop.set()
            worker.join()
    out, err = capsys.readouterr()
    assert "matched 0, already settled 0, unmatched 1" in out and "100% 1/1 lines" in err


def test_a_bank_statement_read_by_the_worker_shows_its_progress(env, tmp_path, capsys):
    statement = tmp_path / "statement.csv"
    statement.write_text("date,reference,amount,description\n" + "".join(
        f"2026-12-0{i + 1},TRF 0{i},12.3{i},unknown credit\n" for i in range(3)))
    stop = threading.Event()
    worker = threading.Thread(target=_worker_drains_once_queued, args=(stop,), daemon=True)
    worker.start()
    try:
        assert main(["reconcile", "statement", str(statement), "--tenant", "demo"]) == 0
    finally:
        stop.set()
        worker.join()
    out, err = capsys.readouterr()
    assert "matched 0, already imported 0, unmatched 3" in out
    assert "queued; the worker" in err and "100% 3/3 lines" in err
    assert statement.exists()  # the user's file was copied, never moved


@pytest.mark.parametrize("command", [["report", "--gateway", "sandbox"],
                                     ["report", "--gateway", "sandbox", "--in-worker"],
                                     ["statement"]])
def test_a_missing_file_is_named_in_one_line(env, tmp_path, capsys, command):
    missing = tmp_path / "nope.csv"
    assert main(["reconcile", command[0], str(missing), "--tenant", "demo",
                 *command[1:]]) == 2
    assert capsys.readouterr().err == f"loket: {missing}: No such file or directory\n"


def test_a_report_that_is_not_utf8_is_named_in_one_line(env, tmp_path, capsys):
    binary = tmp_path / "settlement.csv"
    binary.write_bytes(b"\xff\xfe\x00\x00garbage\x81\n")
    assert main(["reconcile", "report", str(binary), "--tenant", "demo", "--gateway",
                 "sandbox", "--quiet"]) == 2
    assert capsys.readouterr().err == f"loket: {binary}: not UTF-8 text (invalid start byte)\n"
