"""``loket plugin try NAME``: connect an installed gateway plugin to its own emulator through a
throw-away loket, the way a new author would by hand, printing each step.

It starts the emulator the plugin ships (the first :class:`loket.plugin_api.Emulator`
subclass in ``loket_NAME.testing``, which must answer :meth:`~loket.emulator.Emulator.
credentials` and :meth:`~loket.emulator.Emulator.pay`), creates a temporary database,
serves loket on a free loopback port with the gateway's ``api_base`` pointed at the
emulator, and then, over loket's HTTP API as a tenant admin: activates the gateway, saves
the emulator's credentials (the live check), starts the connection test, pays the test
payment on the emulator, delivers the gateway's callback to loket's webhook URL and reads
back that the gateway is connected and the test payment refunded.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import inspect
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from loket.emulator import Emulator

TIMEOUT = 20


class TryFailed(Exception):
    """A step failed; the message says which and why."""


def find_emulator(name: str) -> type[Emulator]:
    """The emulator class ``loket_NAME.testing`` ships."""
    module_name = f"loket_{name}.testing"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TryFailed(f"cannot import {module_name} ({exc}): a gateway package ships its "
                        "emulator there (see docs/writing-a-gateway.md)") from None
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, Emulator) and value is not Emulator:
            return value
    raise TryFailed(f"{module_name} has no loket.plugin_api.Emulator subclass to start")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _served(env: dict[str, str], folder: Path, say: Callable[[str], None]) -> Iterator[str]:
    """``loket serve`` on a free port with ``env``; yields its base URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "LOKET_BASE_URL": url}
    command = [sys.executable, "-m", "loket.cli"]
    upgraded = subprocess.run([*command, "db", "upgrade"], env=env, capture_output=True,
                              text=True)
    if upgraded.returncode:
        raise TryFailed(f"loket db upgrade failed: {upgraded.stderr[-500:]}")
    say(f"temporary database {env['LOKET_DATABASE_URL']} created")
    with open(folder / "serve.log", "wb") as log:
        server = subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--port",
                                   str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.poll() is None:
                with contextlib.suppress(requests.RequestException):
                    requests.get(url + "/health", timeout=1)  # any answer: it is up
                    break
                time.sleep(0.2)
            else:
                raise TryFailed(f"loket serve did not answer (see {folder / 'serve.log'})")
            say(f"loket serving at {url}")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def _admin_key(env: dict[str, str]) -> str:
    """A tenant with a tenant-admin API key, in the temporary database."""
    from loket.core import audit, tenants
    from loket.core.config import AppConfig
    from loket.core.context import Loket

    ctx = Loket.create(AppConfig.from_env(env))
    actor = audit.Actor("plugin-try", "system")
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, actor, "try", "Plugin try",
                                       {"currency": env["LOKET_TRY_CURRENCY"]})
        return tenants.create_api_key(session, actor, tenant.id, "tenant_admin", "try")


def _call(method: str, url: str, key: str, body: Any = None) -> dict[str, Any]:
    answer = requests.request(method, url, json=body, timeout=TIMEOUT,
                              headers={"Authorization": f"Bearer {key}"})
    if answer.status_code >= 400:
        raise TryFailed(f"{method} {url} answered {answer.status_code}: {answer.text[:500]}")
    return dict(answer.json())


def run(name: str, keep: bool = False, say: Callable[[str], None] = print) -> int:
    """Run the try; returns the exit code (0: connected and refunded)."""
    try:
        _try(name, keep, say)
    except TryFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    say(f"OK: {name} connects through loket and its test payment is refunded")
    return 0


def _try(name: str, keep: bool, say: Callable[[str], None]) -> None:
    from loket.plugins import Plugins

    gateways = Plugins().gateways
    if name not in gateways:
        raise TryFailed(f"no installed gateway {name!r} (installed: {', '.join(gateways)}); "
                        "pip install -e your package first")
    currency = (gateways[name].currencies or ("USD",))[0]
    folder = Path(tempfile.mkdtemp(prefix=f"loket-try-{name}-"))
    with find_emulator(name)() as emulator:
        say(f"emulator {type(emulator).__name__} listening at {emulator.url}")
        env = {**os.environ, "LOKET_DATABASE_URL": f"sqlite:///{folder / 'loket.db'}",
               "LOKET_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
               "LOKET_VAR_DIR": str(folder),
               "LOKET_GATEWAY_OPTIONS": json.dumps({name: {"api_base": emulator.url}}),
               "LOKET_TRY_CURRENCY": currency}
        with _served(env, folder, say) as url:
            _connect(name, url, _admin_key(env), emulator, say)
    say(f"kept {folder}" if keep else f"removed {folder}")
    if not keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _connect(name: str, url: str, key: str, emulator: Emulator,
             say: Callable[[str], None]) -> None:
    base = f"{url}/v1/gateways/{name}"
    _call("PUT", f"{base}/active", key, {"active": True})
    say(f"PUT {base}/active: the tenant admin activated {name}")
    saved = _call("PUT", f"{base}/credentials", key, {"credentials": emulator.credentials()})
    say(f"PUT {base}/credentials: accepted after the live check; webhook URL "
        f"{saved['webhook_url']}")
    started = _call("POST", f"{base}/connect", key)
    number = started["payment_number"]
    say(f"POST {base}/connect: test payment {number} of {started['amount']['decimal']} "
        f"{started['amount']['currency']}, payer sent to {started['redirect_url']}")
    detail = _call("GET", f"{url}/v1/payments/{number}", key)
    reference = detail["transaction"]["gateway_reference"]
    body, headers = emulator.pay(reference)
    say(f"the emulated payer paid {reference}")
    delivered = requests.post(saved["webhook_url"], data=body, headers=headers, timeout=TIMEOUT)
    say(f"the gateway's callback delivered to loket: HTTP {delivered.status_code}")
    if delivered.status_code >= 300:
        raise TryFailed(f"loket refused the callback: {delivered.text[:500]}")
    gateway = _call("GET", base, key)
    test = _call("GET", f"{base}/test", key)
    refund = (test.get("response") or {}).get("refund") or {}
    say(f"GET {base}: connected={gateway['connected']}; test payment "
        f"{test['test_payment']['status']}, refund {refund.get('status', 'none')}")
    if not gateway["connected"]:
        raise TryFailed("the gateway is not connected after its test payment's callback")
