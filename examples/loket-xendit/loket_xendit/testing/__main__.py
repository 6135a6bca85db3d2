"""Run the Xendit emulator alone: ``python -m loket_xendit.testing [--port N]``."""

import sys

from loket.plugin_api import run_standalone
from loket_xendit.testing.emulator import CALLBACK_TOKEN, SECRET_KEY, XenditEmulator

sys.exit(run_standalone(XenditEmulator, describe=lambda emulator: (
    f"credentials: secret_key={SECRET_KEY} callback_token={CALLBACK_TOKEN}\n"
    f"gateway option: api_base={emulator.url}")))
