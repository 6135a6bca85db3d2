"""``loket plugin new NAME``: write a ready-to-fill gateway package from a template.

The package (``loket-NAME/``) installs with ``pip install -e``, registers itself through the
``loket`` entry point and enables the conformance kit; its tests fail only where the
author still has to write the gateway's specifics, each failure saying what to write.
The core CLI adds the sub-command with :func:`add_parser`; ``python -m loket.scaffold``
runs it on its own.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

import loket
from loket.hookspecs import CONTRACT_VERSION

TEMPLATE = "gateway"
SUFFIX = ".tmpl"
NAME_RULE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class ScaffoldError(Exception):
    """The package cannot be written (bad name, directory already there)."""


def placeholders(name: str) -> dict[str, str]:
    """Return the template placeholders for gateway ``name`` (e.g. ``acme_pay``)."""
    if not NAME_RULE.match(name) or name.endswith("_") or "__" in name:
        raise ScaffoldError(
            f"gateway name {name!r} must be 2-31 lower-case letters, digits or single "
            "underscores, starting with a letter (it becomes the gateway kind and the "
            "package loket_<name>)")
    return {
        "{{name}}": name,
        "{{Name}}": "".join(part.capitalize() for part in name.split("_")),
        "{{dist}}": "loket-" + name.replace("_", "-"),
        "{{contract}}": CONTRACT_VERSION,
        "{{loket_version}}": loket.__version__,
        "{{loket_next_minor}}": _next_minor(loket.__version__),
    }


def _next_minor(version: str) -> str:
    """The first release a plugin written against ``version`` may not work with: 0.2.0 -> 0.3."""
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _template_files(root, prefix=()):
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _template_files(entry, prefix + (entry.name,))
        elif entry.name.endswith(SUFFIX):
            yield prefix + (entry.name[: -len(SUFFIX)],), entry.read_text(encoding="utf-8")


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the gateway package ``loket-NAME`` into ``directory``.

    :param name: the gateway kind, e.g. ``acme`` (also names the package ``loket_acme``).
    :param directory: where to create the package folder (must not contain it yet).
    :returns: the path of the new package folder.
    :raises ScaffoldError: for an invalid name or an existing folder.
    """
    values = placeholders(name)
    target = Path(directory) / values["{{dist}}"]
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another --dir or remove it")
    root = resources.files("loket") / "templates" / TEMPLATE
    for parts, text in _template_files(root):
        path = target.joinpath(*(_render(p, values) for p in parts))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(text, values), encoding="utf-8")
    return target


def _run_new(args: argparse.Namespace) -> int:
    try:
        target = new_plugin(args.name, args.dir)
    except ScaffoldError as exc:
        print(f"loket plugin new: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {target}\n\nNext:\n  cd {target}\n  pip install -e '.[test]'\n  pytest\n\n"
          "Each failing test names the function to write; see docs/writing-a-gateway.md.")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``plugin new NAME [--dir DIR]`` to a CLI's sub-parsers.

    The parsed namespace gets ``func``: call ``args.func(args)``, which returns the exit code.
    """
    plugin = subparsers.add_parser("plugin", help="work on loket plugins",
                                   description="Work on loket plugins.")
    commands = plugin.add_subparsers(dest="plugin_command", required=True)
    new = commands.add_parser(
        "new", help="write a new gateway plugin package from the template",
        description="Write loket-NAME/, a gateway package whose tests run loket's "
                    "conformance kit and fail only where you must fill in the gateway.")
    new.add_argument("name", help="gateway kind, e.g. acme (package loket_acme)")
    new.add_argument("--dir", default=".", help="folder to create loket-NAME in (default: .)")
    new.set_defaults(func=_run_new)
    return plugin


def main(argv: list[str] | None = None) -> int:
    """Run the ``plugin`` command alone: ``python -m loket.scaffold plugin new acme``."""
    parser = argparse.ArgumentParser(prog="loket")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
