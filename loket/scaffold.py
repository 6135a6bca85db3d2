"""``loket plugin new NAME``: write a ready-to-fill gateway (or, with ``--destination``,
destination processor) package from a template; also wires ``loket plugin reference`` and
``loket plugin try``.

The package (``loket-NAME/``) installs with ``pip install -e``, registers itself through the
``loket`` entry point and enables the conformance kit; its tests fail only where the
author still has to write the gateway's (or processor's) specifics, each failure saying
what to write. The core CLI adds the sub-commands with :func:`add_parser`;
``python -m loket.scaffold`` runs them on their own.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

import loket
from loket.hookspecs import CONTRACT_VERSION

TEMPLATES = ("gateway", "destination")
SUFFIX = ".tmpl"
RENAMED = {"gitignore": ".gitignore"}  # dot-files are not shipped as package data
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


def new_plugin(name: str, directory: str | Path = ".", template: str = "gateway") -> Path:
    """Write the plugin package ``loket-NAME`` into ``directory``.

    :param name: the gateway kind or processor name, e.g. ``acme`` (also names the package
        ``loket_acme``).
    :param directory: where to create the package folder (must not contain it yet).
    :param template: ``gateway`` or ``destination``.
    :returns: the path of the new package folder.
    :raises ScaffoldError: for an invalid name or an existing folder.
    """
    values = placeholders(name)
    target = Path(directory) / values["{{dist}}"]
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another --dir or remove it")
    if template not in TEMPLATES:
        raise ScaffoldError(f"unknown template {template!r} (known: {', '.join(TEMPLATES)})")
    root = resources.files("loket") / "templates" / template
    for parts, text in _template_files(root):
        path = target.joinpath(*(RENAMED.get(_render(p, values), _render(p, values))
                                 for p in parts))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(text, values), encoding="utf-8")
    return target


def _run_new(args: argparse.Namespace) -> int:
    template = "destination" if args.destination else "gateway"
    try:
        target = new_plugin(args.name, args.dir, template)
    except ScaffoldError as exc:
        print(f"loket plugin new: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {target}\n\nNext:\n  cd {target}\n  pip install -e '.[test]'\n  pytest\n\n"
          f"Each failing test names the function to write; see docs/writing-a-{template}.md.")
    return 0


def _run_reference(args: argparse.Namespace) -> int:
    from loket.plugin_reference import run

    return run(Path(args.output), args.check)


def _run_try(args: argparse.Namespace) -> int:
    from loket.plugin_try import run

    return run(args.name, keep=args.keep)


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
    new.add_argument("name", help="gateway kind or processor name, e.g. acme (package "
                                   "loket_acme)")
    new.add_argument("--destination", action="store_true",
                     help="write a destination processor package instead of a gateway")
    new.add_argument("--dir", default=".", help="folder to create loket-NAME in (default: .)")
    new.set_defaults(func=_run_new)
    reference = commands.add_parser(
        "reference", help="write docs/plugin-reference.md from the code",
        description="Generate the plugin authors' reference (every hook, value type, "
                    "helper) from the code.")
    reference.add_argument("--output", default="docs/plugin-reference.md")
    reference.add_argument("--check", action="store_true",
                           help="fail when the file differs from what the code gives")
    reference.set_defaults(func=_run_reference)
    attempt = commands.add_parser(
        "try", help="connect an installed gateway plugin to its emulator",
        description="Start the plugin's emulator (loket_NAME.testing), a throw-away loket "
                    "(temporary database and server) and run the connection test through "
                    "it, printing each step.")
    attempt.add_argument("name", help="the gateway kind, e.g. acme")
    attempt.add_argument("--keep", action="store_true",
                         help="keep the temporary folder (database, logs) afterwards")
    attempt.set_defaults(func=_run_try)
    return plugin


def main(argv: list[str] | None = None) -> int:
    """Run the ``plugin`` command alone: ``python -m loket.scaffold plugin new acme``."""
    parser = argparse.ArgumentParser(prog="loket")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
