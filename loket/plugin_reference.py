"""The plugin authors' reference, generated from the code: every hook, event type, enum,
value type (with each field), helper and error of :mod:`loket.plugin_api`.

``loket plugin reference`` (or ``python -m loket.plugin_reference``) writes
``docs/plugin-reference.md``; ``--check`` fails when the committed file differs, and the
suite runs that check, so the reference never drifts from the code.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from loket import credentials_form, emulator, errors, hookspecs, types, wire
from loket.hookspecs import destinations, gateways, mandates, outbound, registration, settlements
from loket.types import destinations as t_destinations
from loket.types import gateways as t_gateways
from loket.types import mandates as t_mandates
from loket.types import outbound as t_outbound
from loket.types import states as t_states

DEFAULT_OUTPUT = Path("docs") / "plugin-reference.md"
HOOK_GROUPS: tuple[tuple[str, ModuleType], ...] = (
    ("Registration", registration), ("Gateways", gateways),
    ("Gateway settlements", settlements), ("Gateway mandates", mandates),
    ("Destinations", destinations), ("Outbound and channels", outbound),
)
TYPE_GROUPS: tuple[tuple[str, ModuleType], ...] = (
    ("Gateways", t_gateways), ("Destinations", t_destinations), ("Outbound", t_outbound),
    ("Mandates", t_mandates),
)
_ROLE = re.compile(r":(?:class|func|data|attr|meth|mod|exc):`~?([^`]+)`")
_FIELD = re.compile(r"^:(param|returns|raises)\s*([^:]*):\s*(.*)$")
_SINCE = re.compile(r"\.\. versionadded:: (\S+)")


def _plain(text: str) -> str:
    """reST roles to Markdown code spans (``:class:`~loket.types.X``` -> ```X```)."""
    text = _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`")


def _split_doc(doc: str) -> tuple[list[str], dict[str, list[tuple[str, str]]], list[str]]:
    """A docstring's prose paragraphs, its ``:param:``-style fields and its directives."""
    prose: list[str] = []
    fields: dict[str, list[tuple[str, str]]] = {"param": [], "returns": [], "raises": []}
    directives: list[str] = []
    for block in textwrap.dedent(doc).strip().split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if lines and lines[0].startswith(".. "):
            directives.append(" ".join(lines))
            continue
        last: str | None = None  # the field a continuation line belongs to
        paragraph: list[str] = []
        for line in lines:
            found = _FIELD.match(line)
            if found:
                last, name, text = found.groups()
                fields[last].append((name.strip(), text))
            elif last is not None:
                name, text = fields[last][-1]
                fields[last][-1] = (name, f"{text} {line}")
            else:
                paragraph.append(line)
        if paragraph:
            prose.append(" ".join(paragraph))
    return prose, fields, directives


def _since(doc: str) -> str:
    found = _SINCE.search(doc or "")
    return found.group(1) if found else "1.0"


def _hook_rows(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(module).items():
        if name.startswith("loket_") and callable(value):
            yield name, value


def _need(name: str) -> str:
    if name in hookspecs.GATEWAY_HOOKS:
        return hookspecs.GATEWAY_HOOKS[name]
    if name.startswith("loket_destination_"):
        return "required of a destination plugin"
    return "optional"


def _hook(name: str, function: Callable[..., Any]) -> list[str]:
    doc = inspect.getdoc(function) or ""
    prose, fields, directives = _split_doc(doc)
    signature = inspect.signature(function)
    spec = getattr(function, "loket_spec", {}) or {}
    first = "the first non-`None` answer wins" if spec.get("firstresult") else \
        "every implementation is called"
    out = [f"### `{name}`", "",
           f"*{_need(name)}* · since contract {_since(doc)} · {first}", ""]
    out += [_plain(p.replace("\n", " ")).strip() + "\n" for p in prose]
    described = dict(fields["param"])
    if signature.parameters:
        out += ["| argument | type | meaning |", "| --- | --- | --- |"]
        for param in signature.parameters.values():
            out.append(f"| `{param.name}` | `{param.annotation}` | "
                       f"{_plain(described.get(param.name, ''))} |")
        out.append("")
    out.append(f"**Returns** `{signature.return_annotation}`"
               + (f": {_plain(fields['returns'][0][1])}" if fields["returns"] else ""))
    out.append("")
    for exc, text in fields["raises"]:
        out.append(f"**Raises** `{exc.rsplit('.', 1)[-1]}`: {_plain(text)}")
        out.append("")
    for directive in directives:
        kind, _, rest = directive.removeprefix(".. ").partition(":: ")
        if kind != "versionadded":
            word = {"versionchanged": "Changed", "deprecated": "Deprecated"}.get(kind, kind)
            version, _, text = rest.partition(" ")
            out += [f"> {word} in {version}: {_plain(text)}", ""]
    return out


def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right after an annotated assignment), by field."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def _default(field: Any) -> str:
    if field.default is attrs.NOTHING:
        return "required"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return f"`{field.default.factory.__name__}()`"
    return f"`{field.default!r}`"


def value_types() -> Iterator[tuple[str, type]]:
    """Every value type (attrs class) of the contract, with its group."""
    for group, module in TYPE_GROUPS:
        for value in vars(module).values():
            if (inspect.isclass(value) and attrs.has(value)
                    and value.__module__ == module.__name__):
                yield group, value


def missing_field_docs() -> list[str]:
    """``Type.field`` for every value-type field without a description."""
    missing = []
    for _, cls in value_types():
        docs = _field_docs(cls)
        missing += [f"{cls.__name__}.{f.name}" for f in attrs.fields(cls) if not docs.get(f.name)]
    return missing


def _value_type(cls: type) -> list[str]:
    docs = _field_docs(cls)
    out = [f"### `{cls.__name__}`", "", _plain(" ".join((inspect.getdoc(cls) or "").split())),
           "", "| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for field in attrs.fields(cls):
        out.append(f"| `{field.name}` | `{field.type}` | {_default(field)} | "
                   f"{_plain(docs.get(field.name, ''))} |")
    return out + [""]


def _enums() -> list[str]:
    out = ["## Enumerations", ""]
    for module in (t_states, t_mandates):
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, enum.Enum)
                    and value.__module__ == module.__name__):
                doc = _plain(" ".join((inspect.getdoc(value) or "").split()))
                doc = doc.split(".. versionadded::")[0].strip()
                words = ", ".join(f"`{member.value}`" for member in value)
                out += [f"### `{value.__name__}`", "", doc, "", f"Values: {words}", ""]
    return out


def _events() -> list[str]:
    out = ["## Event types and what loket does with them", "",
           "| type | since | effect |", "| --- | --- | --- |"]
    for event_type, (since, effect) in types.EVENT_EFFECTS.items():
        out.append(f"| `{event_type.value}` | {since} | {_plain(effect)} |")
    return out + [""]


def _functions(title: str, module: ModuleType) -> list[str]:
    out = [f"### {title}", ""]
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            doc = inspect.getdoc(value) or ""
            prose = _split_doc(doc)[0]
            summary = _plain(" ".join(prose[0].split())) if prose else ""
            head = f"`{name}{inspect.signature(value)}`" if inspect.isfunction(value) \
                else f"class `{name}`"
            out += [f"- {head} (since {_since(doc)}): {summary}"]
    return out + [""]


def _errors() -> list[str]:
    out = ["## Errors a plugin raises", "", "| error | HTTP status | meaning |",
           "| --- | --- | --- |"]
    for name in ("LoketError", "ValidationFailed", "GatewayError", "CredentialsRejected",
                 "RefundNotPossible", "NotSupported", "WebhookRejected", "ConfigurationError"):
        cls = getattr(errors, name)
        doc = _plain(" ".join((inspect.getdoc(cls) or "").split()))
        out.append(f"| `{name}` | {cls.status} | {doc} |")
    return out + [""]


def render() -> str:
    """The whole reference as Markdown."""
    out = [
        "# Plugin reference", "",
        "<!-- Generated from the code by `loket plugin reference`; do not edit by hand. "
        "The suite fails when it differs from the code. -->", "",
        f"Plugin contract **{hookspecs.CONTRACT_VERSION}**. A plugin imports only "
        "`loket.plugin_api` and declares `LOKET_CONTRACT = CONTRACT_VERSION`. Arguments are "
        "passed by keyword; an implementation may accept fewer than the hook declares. "
        "Gateway hooks return `None` when `config.kind` is not theirs. The guides are "
        "`docs/writing-a-gateway.md` and `docs/writing-a-destination.md`.", "",
        ]
    for title, module in HOOK_GROUPS:
        out += [f"## Hooks: {title.lower()}", "",
                _plain(" ".join((inspect.getdoc(module) or "").split())), ""]
        for name, function in _hook_rows(module):
            out += _hook(name, function)
    out += _events() + _enums()
    shown = ""
    for group, cls in value_types():
        if group != shown:
            out += [f"## Value types: {group.lower()}", ""]
            shown = group
        out += _value_type(cls)
    out += ["## Helpers", ""]
    out += _functions("Amounts, JSON and signatures (`loket.plugin_api`)", wire)
    out += _functions("Credentials (`loket.plugin_api`)", credentials_form)
    out += _functions("Emulator base (`loket.plugin_api`)", emulator)
    out += _errors()
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the reference; returns the exit code."""
    parser = argparse.ArgumentParser(prog="loket plugin reference",
                                     description="Generate docs/plugin-reference.md.")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--check", action="store_true",
                        help="fail when the file differs from what the code gives")
    args = parser.parse_args(argv)
    return run(Path(args.output), args.check)


def run(output: Path, check: bool) -> int:
    """Write the reference to ``output``, or compare with it when ``check``."""
    text = render()
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is out of date: run `loket plugin reference`", file=sys.stderr)
            return 1
        print(f"{output} matches the code")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
