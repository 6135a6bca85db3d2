"""The loket command: set up, operate and try loket from a terminal.

Every sub-command builds its container from the environment (``LOKET_*``), does one job
and prints a plain result. An error is printed as one line with status 2 when what was given
is wrong; a failed database statement exits 1, its reason followed by what to fix when the
database is unreachable or not migrated.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import attrs
from sqlalchemy.exc import DBAPIError

import loket
from loket.cli_secret_key import ENCRYPTED_COLUMNS, refuse_a_foreign_database
from loket.core import audit, migrate
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.tenants import STAFF_ROLES
from loket.errors import LoketError
from loket.ops.runtime import tune_gc

CLI = audit.Actor("cli", "system")


def container(args, config: AppConfig | None = None, *, needs_key: bool = False) -> Loket:
    """The container a sub-command works with, built from the environment (``config``:
    instead), its job queue set up. ``needs_key``: the command reads or writes stored
    secrets, or signs with the key; without ``LOKET_SECRET_KEY`` it runs on the development
    key only on a database whose secrets that key decrypts.

    :raises ConfigurationError: naming ``LOKET_SECRET_KEY`` when it does not
        (:func:`~loket.cli_secret_key.refuse_a_foreign_database`).
    """
    ctx = Loket.create(config or AppConfig.from_env(development_key=True))
    if needs_key:
        refuse_a_foreign_database(ctx)
    from loket.jobs import setup
    setup(ctx)  # job queue; binds the built-in e-mail notifier and tracking sink
    return ctx


def cmd_db_upgrade(args) -> None:
    ctx = container(args)
    migrate.upgrade(ctx.engine, args.revision)
    print(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")


def cmd_tenant_create(args) -> None:
    from loket.core.tenants import create_tenant
    ctx = container(args)
    settings = {"currency": args.currency, "locale": args.locale, "timezone": args.timezone}
    with ctx.transaction() as session:
        tenant = create_tenant(session, CLI, args.slug, args.name or args.slug, settings)
        print(f"tenant {tenant.slug} created (id {tenant.id})")


def cmd_apikey_create(args) -> None:
    from loket.core.tenants import create_api_key, tenant_by_slug
    ctx = container(args)
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        key = create_api_key(session, CLI, tenant.id, args.role, args.name or "")
    print(key)
    print("(shown once; loket keeps only its hash)", file=sys.stderr)


def cmd_apikey_list(args) -> None:
    from loket.core.tenants import list_api_keys, tenant_by_slug
    ctx = container(args)
    with ctx.transaction() as session:
        rows = list_api_keys(session, tenant_by_slug(session, args.tenant).id,
                             include_revoked=args.all)
        lines = [f"{row.prefix:<12} {row.role:<20} {row.created_at:%Y-%m-%d %H:%M}  "
                 f"{'revoked ' if row.revoked_at else ''}{row.name}" for row in rows]
    print("\n".join(lines) if lines else "no API keys")


def cmd_apikey_revoke(args) -> None:
    from loket.core.tenants import revoke_api_key, tenant_by_slug
    ctx = container(args)
    with ctx.transaction() as session:
        row = revoke_api_key(session, CLI, tenant_by_slug(session, args.tenant).id, args.prefix,
                             ctx.now())
        print(f"revoked {row.prefix} ({row.role}, {row.name})")


def cmd_token(args) -> None:
    from loket.core.tenants import consumer_by_account, tenant_by_slug
    ctx = container(args, needs_key=True)  # a token the server checks with its key
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        consumer_by_account(session, tenant.id, args.account)
    print(ctx.signer.consumer_token(tenant.id, args.account, args.ttl))


def cmd_plugins(args) -> None:
    from loket.hookspecs import CONTRACT_VERSION
    ctx = container(args)
    rows = ctx.plugins.infos()
    if args.json:
        print(json.dumps([attrs.asdict(r) for r in rows], indent=2))
        return
    print(f"loket plugin contract {CONTRACT_VERSION}")
    for row in rows:
        print(f"{row.name:<12} {row.kind:<12} {row.distribution} {row.version} "
              f"(contract {row.contract})")
        print(f"    BROKEN: {row.error}" if row.error else f"    hooks: {', '.join(row.hooks)}")


def cmd_settings_show(args) -> None:
    from loket.core.settings import load_settings
    from loket.core.tenants import tenant_by_slug
    ctx = container(args)
    with ctx.transaction() as session:
        settings = load_settings(session, tenant_by_slug(session, args.tenant).id)
    print(json.dumps(settings.document, indent=2))


def cmd_settings_set(args) -> None:
    from loket.cli_files import json_object
    from loket.core.settings import update_settings
    from loket.core.tenants import tenant_by_slug
    ctx = container(args)
    document = json_object(args.file, "a settings document")
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        update_settings(session, CLI, tenant.id, document, processors=ctx.plugins.destinations)
    print("settings saved")


def cmd_keys_generate(args) -> None:
    from loket.core.secrets import SecretBox
    print(SecretBox.generate_key())


def cmd_keys_development(args) -> None:
    from loket.core.config import development_secret_key
    print(development_secret_key(Path(os.environ.get("LOKET_VAR_DIR", "var"))))


def cmd_keys_rotate(args) -> int:
    from cryptography.fernet import InvalidToken
    from sqlalchemy import select

    from loket.core import models
    ctx = container(args, needs_key=True)
    counts, unreadable = {label: 0 for *_, label in ENCRYPTED_COLUMNS}, []
    with ctx.transaction() as session:
        for name, column, label in ENCRYPTED_COLUMNS:
            model = getattr(models, name)
            for row in session.scalars(select(model).where(getattr(model, column).is_not(None))):
                try:
                    setattr(row, column, ctx.secrets.rotate(getattr(row, column)))
                    counts[label] += 1
                except InvalidToken:
                    unreadable.append(f"{label} {row.id}")
        audit.record(session, CLI, "keys.rotated", "gateway_configuration", "*", after=counts)
    done = [f"{n} {label}(s)" for label, n in counts.items()]
    print(f"re-encrypted {', '.join(done[:-1])} and {done[-1]} with the newest key")
    if unreadable:  # left as they were
        print(f"loket: no configured key decrypts {', '.join(unreadable)}: add the key they "
              f"were saved with to LOKET_SECRET_KEY and rotate again", file=sys.stderr)
    return 1 if unreadable else 0


def cmd_import_receivables(args) -> None:
    from loket.cli_files import reading
    from loket.core.host.imports import import_csv
    from loket.core.tenants import tenant_by_slug
    from loket.progress import count_lines, progress_bar
    ctx = container(args)
    path = Path(args.file)
    with reading(args.file):
        total = max(count_lines(path) - 1, 0)
    bar = progress_bar(total, "rows", quiet=args.quiet)
    with reading(args.file, UnicodeDecodeError), ctx.transaction() as session, path.open(
            newline="", encoding="utf-8-sig") as stream:
        count = import_csv(session, CLI, tenant_by_slug(session, args.tenant).id, stream,
                           ctx.plugins.attribute_schemas(), progress=bar, ctx=ctx)
    bar(count, final=True)
    print(f"imported {count} receivable(s)")


def cmd_demo(args) -> None:
    from loket.demo import load_demo
    ctx = container(args)
    migrate.upgrade(ctx.engine)
    refuse_a_foreign_database(ctx)  # a fresh or development database passes
    keys = load_demo(ctx, ctx.signer)
    print(f"demo tenant '{keys.slug}' " + ("created" if keys.created else
                                           "already present (its earlier demo keys revoked)") +
          f"; serving on {ctx.config.base_url}")
    for role, key in keys.api_keys.items():
        print(f"  {role:<20} {key}")
    print(f"  consumer WU-10001    {keys.consumer_token}")


def cmd_sandbox_settle(args) -> None:
    from loket.gateways import sandbox_page, sandbox_store
    ctx = container(args)
    options = {"var_dir": str(ctx.config.var_dir), **ctx.config.gateway_options.get("sandbox", {})}
    db = sandbox_store.open_path(sandbox_store.store_path(options))
    hooks = sandbox_page.settle(db)
    for hook in hooks:
        status = hook.deliver()
        print(f"settlement webhook -> {hook.url.rsplit('/', 1)[0]}/… answered {status}")
    print(f"settled {len(hooks)} payment(s)")


def serve_config(host: str, port: int, environ: Mapping[str, str] | None = None) -> AppConfig:
    """The configuration ``loket serve`` runs with: links point at the port actually served
    unless ``LOKET_BASE_URL`` says where loket is reached from outside."""
    env = dict(os.environ if environ is None else environ)
    config = AppConfig.from_env(env, development_key=True)
    if env.get("LOKET_BASE_URL"):
        return config
    return attrs.evolve(config, base_url=f"http://{host}:{port}")


def cmd_serve(args) -> None:
    from loket.server.app import create_app
    from loket.server.devserver import serve
    ctx = container(args, serve_config(args.host, args.port), needs_key=True)
    ctx.check_stored_money()
    serve(create_app(ctx), args.host, args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``loket`` command (sub-commands register here)."""
    # Long by design: the whole command tree, declared in one place so ``--help`` and this
    # function read the same; each sub-command's work is in its ``cmd_*`` function.
    parser = argparse.ArgumentParser(prog="loket", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"loket {loket.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head", help="target revision (head)")
    up.set_defaults(func=cmd_db_upgrade)

    tenant = sub.add_parser("tenant", help="tenants (utilities, agencies)").add_subparsers(
        dest="tenant_cmd", required=True)
    create = tenant.add_parser("create", help="create a tenant")
    create.add_argument("slug")
    create.add_argument("--name", help="display name (default: the slug)")
    create.add_argument("--currency", default="USD", help="ISO 4217 code (USD)")
    create.add_argument("--locale", default="en_US", help="locale of pages and formats (en_US)")
    create.add_argument("--timezone", default="UTC", help="IANA time zone (UTC)")
    create.set_defaults(func=cmd_tenant_create)

    apikey = sub.add_parser("apikey", help="staff API keys").add_subparsers(
        dest="apikey_cmd", required=True)
    key = apikey.add_parser("create", help="create an API key (printed once)")
    key.add_argument("--tenant", required=True, help="tenant slug")
    key.add_argument("--role", required=True, choices=STAFF_ROLES)
    key.add_argument("--name", help="who or what uses it")
    key.set_defaults(func=cmd_apikey_create)
    keys_list = apikey.add_parser("list", help="list a tenant's keys by prefix")
    keys_list.add_argument("--tenant", required=True, help="tenant slug")
    keys_list.add_argument("--all", action="store_true", help="include revoked keys")
    keys_list.set_defaults(func=cmd_apikey_list)
    revoke = apikey.add_parser("revoke", help="revoke a key by the prefix `apikey list` shows")
    revoke.add_argument("--tenant", required=True, help="tenant slug")
    revoke.add_argument("prefix", help="the key's prefix (lk_...) or the whole key")
    revoke.set_defaults(func=cmd_apikey_revoke)

    token = sub.add_parser("token", help="issue a consumer token for one account")
    token.add_argument("--tenant", required=True, help="tenant slug")
    token.add_argument("--account", required=True, help="the consumer's account number")
    token.add_argument("--ttl", type=int, default=3600, help="seconds it is valid (3600)")
    token.set_defaults(func=cmd_token)

    plugins = sub.add_parser("plugins", help="list plugins, their kind and hooks")
    plugins.add_argument("--json", action="store_true", help="as JSON")
    plugins.set_defaults(func=cmd_plugins)

    settings = sub.add_parser("settings", help="a tenant's settings").add_subparsers(
        dest="settings_cmd", required=True)
    show = settings.add_parser("show", help="print the settings as JSON")
    show.add_argument("--tenant", required=True, help="tenant slug")
    show.set_defaults(func=cmd_settings_show)
    set_ = settings.add_parser("set", help="merge a JSON document into the settings")
    set_.add_argument("--tenant", required=True, help="tenant slug")
    set_.add_argument("file", nargs="?", help="JSON file (default: standard input)")
    set_.set_defaults(func=cmd_settings_set)

    keys = sub.add_parser("keys", help="LOKET_SECRET_KEY: generate and rotate").add_subparsers(
        dest="keys_cmd", required=True)
    keys.add_parser("generate", help="print a new LOKET_SECRET_KEY").set_defaults(
        func=cmd_keys_generate)
    keys.add_parser("rotate", help="re-encrypt credentials and webhook endpoint secrets with "
                                   "the newest key").set_defaults(func=cmd_keys_rotate)
    keys.add_parser("development", help="print the development key of var/secret.key "
                                        "(created on first use; never for production)"
                    ).set_defaults(func=cmd_keys_development)

    imp = sub.add_parser("import", help="import host data from files").add_subparsers(
        dest="import_cmd", required=True)
    rec = imp.add_parser("receivables", help="import bills/services/installments from CSV "
                                             "(any size, streamed, with a progress bar)")
    rec.add_argument("file", help="CSV with a header row; attributes.<name> columns carry "
                                  "receivable attributes")
    rec.add_argument("--tenant", required=True, help="tenant slug")
    rec.add_argument("--quiet", action="store_true", help="no progress bar")
    rec.set_defaults(func=cmd_import_receivables)

    # Imported by name: its commands use this module's container().
    importlib.import_module("loket.cli_reconcile").add_parser(sub)

    sub.add_parser("demo", help="load the demo tenant and print keys").set_defaults(
        func=cmd_demo)

    sandbox = sub.add_parser("sandbox", help="the built-in sandbox gateway").add_subparsers(
        dest="sandbox_cmd", required=True)
    sandbox.add_parser("settle", help="pay out every paid sandbox checkout").set_defaults(
        func=cmd_sandbox_settle)

    serve = sub.add_parser("serve", help="serve the API (development server; use gunicorn "
                                         "in production)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port (8000); links use it unless LOKET_BASE_URL is set")
    serve.set_defaults(func=cmd_serve)

    for module in _EXTENSIONS:
        try:
            __import__(module, fromlist=["add_parser"]).add_parser(sub)
        except ImportError:
            pass
    return parser


# Modules that add their own sub-commands through ``add_parser(subparsers)``.
_EXTENSIONS = ("loket.scaffold", "loket.jobs.cli", "loket.ops.doctor")


def main(argv: list[str] | None = None) -> int:
    """Run the ``loket`` command; returns the exit status.

    Log lines (``LOKET_LOG_FORMAT``, ``LOKET_LOG_LEVEL``) carry the sub-command's name.
    """
    from loket.ops import logs
    args = build_parser().parse_args(argv)
    nested = [str(v) for k, v in vars(args).items() if k.endswith("_cmd") or k == "db"]
    with logs.configured(logs.LogSettings.from_env(os.environ)), logs.scope():
        logs.clear()
        logs.bind(command=" ".join([args.command, *nested]))
        try:
            code = args.func(args)
        except LoketError as exc:
            print(f"loket: {exc.detail}", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error['field']}: {error['message']}", file=sys.stderr)
            return 2
        except DBAPIError as exc:
            return _database_failed(args, exc)
    return code or 0


def _database_failed(args, exc: DBAPIError) -> int:
    """Say why a statement failed, and what an operator can do about it: the database's own
    reason (never the statement or its parameters), then the doctor's finding when the
    database is unreachable or not migrated (not for ``db`` itself, which migrates). The
    traceback is logged at DEBUG (``LOKET_LOG_LEVEL=DEBUG``)."""
    logging.getLogger("loket.cli").debug("database statement failed", exc_info=exc)
    diag = getattr(exc.orig, "diag", None)
    reason = (getattr(diag, "message_primary", None) or str(exc.orig)).strip()
    print(f"loket: a database statement failed ({type(exc.orig).__name__}: "
          f"{reason.splitlines()[0][:300] if reason else '-'})", file=sys.stderr)
    if args.command != "db":
        from loket.core.db import make_engine
        from loket.ops.health import database_fault
        engine = make_engine(AppConfig.from_env(development_key=True).database_url)
        fault = database_fault(engine)
        engine.dispose()
        if fault:
            print(f"  {fault.detail}; {fault.fix}", file=sys.stderr)
    return 1


def run() -> int:
    """The ``loket`` program: tunes its collector (:func:`tune_gc`), then :func:`main`."""
    tune_gc()
    return main()


if __name__ == "__main__":
    sys.exit(run())
