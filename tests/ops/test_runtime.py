"""The garbage collector of a process that runs loket only: tuned once its code is loaded,
unless the operator keeps Python's settings."""

import gc

import pytest

from loket.ops import runtime


@pytest.fixture
def restored_gc():
    """Python's collector settings again after the test (the test process is shared)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_loket_process_freezes_what_it_loaded_and_collects_less_often(restored_gc,
                                                                       monkeypatch):
    monkeypatch.delenv("LOKET_GC", raising=False)
    loaded = [[] for _ in range(100)]  # containers alive when the process is ready
    assert runtime.tune_gc() is True
    assert gc.get_threshold() == runtime.THRESHOLDS
    assert gc.get_freeze_count() >= len(loaded)
    assert not any(obj is loaded for obj in gc.get_objects())  # out of the collector's sight


def test_loket_gc_default_keeps_pythons_settings(restored_gc, monkeypatch):
    monkeypatch.setenv("LOKET_GC", "default")
    before = gc.get_threshold(), gc.get_freeze_count()
    assert runtime.tune_gc() is False
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
