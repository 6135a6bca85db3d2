"""Every hookspec must be exercised: loket must call it somewhere in the suite.

Each loket plugin manager created in a test process records the hooks loket calls. With
``LOKET_CHECK_HOOKS=1`` (``make test`` sets it for the whole suite) the run fails when a
hook of :mod:`loket.hookspecs` was never called; with pytest-xdist the workers' records are
merged first. Without the variable (a single test file, a ``-k`` run) nothing is checked.
"""

from __future__ import annotations

import os

import pluggy
import pytest

from loket import hookspecs

CALLED: set[str] = set()
SPECS = {name for name in dir(hookspecs) if name.startswith("loket_")}
_original_init = pluggy.PluginManager.__init__


def _recording_init(self: pluggy.PluginManager, project_name: str) -> None:
    _original_init(self, project_name)
    if project_name == "loket":
        self.add_hookcall_monitoring(lambda name, impls, kwargs: CALLED.add(name),
                                     lambda outcome, name, impls, kwargs: None)


pluggy.PluginManager.__init__ = _recording_init  # type: ignore[method-assign]


def pytest_testnodedown(node, error) -> None:
    """Merge what an xdist worker recorded."""
    CALLED.update(getattr(node, "workeroutput", {}).get("loket_hooks_called", ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Hand the record to the controller (in a worker) or check it (in the controller)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["loket_hooks_called"] = sorted(CALLED)
        return
    if os.environ.get("LOKET_CHECK_HOOKS") != "1":
        return
    missing = sorted(SPECS - CALLED)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if missing:
        if reporter is not None:
            reporter.write_line(f"hooks never exercised by the suite: {', '.join(missing)}",
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"all {len(SPECS)} hooks of loket.hookspecs were exercised")
