"""The ``loket`` command.

Every sub-command builds its container from the environment (``LOKET_*``), does one job
and prints a plain result. Errors are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import attrs

from loket.core import audit, migrate
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.errors import LoketError

CLI = audit.Actor("cli", "system")


def _ctx(args) -> Loket:
    ctx = Loket.create(AppConfig.from_env())
    from loket.jobs import setup
    setup(ctx)  # job queue; binds the built-in e-mail notifier and tracking sink
    return ctx


def _signer(ctx):
    from loket.core.tenants import TokenSigner
    return TokenSigner(ctx.config.secret_keys[0].encode())


def cmd_db_upgrade(args) -> None:
    ctx = _ctx(args)
    migrate.upgrade(ctx.engine, args.revision)
    print(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")


def cmd_tenant_create(args) -> None:
    from loket.core.tenants import create_tenant
    ctx = _ctx(args)
    settings = {"currency": args.currency, "locale": args.locale, "timezone": args.timezone}
    with ctx.transaction() as session:
        tenant = create_tenant(session, CLI, args.slug, args.name or args.slug, settings)
        print(f"tenant {tenant.slug} created (id {tenant.id})")


def cmd_apikey_create(args) -> None:
    from loket.core.tenants import create_api_key, tenant_by_slug
    ctx = _ctx(args)
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        key = create_api_key(session, CLI, tenant.id, args.role, args.name or "")
    print(key)
    print("(shown once; loket keeps only its hash)", file=sys.stderr)


def cmd_token(args) -> None:
    from loket.core.tenants import consumer_by_account, tenant_by_slug
    ctx = _ctx(args)
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        consumer_by_account(session, tenant.id, args.account)
    print(_signer(ctx).consumer_token(tenant.id, args.account, args.ttl))


def cmd_plugins(args) -> None:
    from loket.hookspecs import CONTRACT_VERSION
    ctx = _ctx(args)
    rows = ctx.plugins.infos()
    if args.json:
        print(json.dumps([attrs.asdict(r) for r in rows], indent=2))
        return
    print(f"loket plugin contract {CONTRACT_VERSION}")
    for row in rows:
        print(f"{row.name:<12} {row.kind:<12} {row.distribution} {row.version} "
              f"(contract {row.contract})")
        if row.error:
            print(f"    BROKEN: {row.error}")
        else:
            print(f"    hooks: {', '.join(row.hooks)}")


def cmd_settings_show(args) -> None:
    from loket.core.settings import load_settings
    from loket.core.tenants import tenant_by_slug
    ctx = _ctx(args)
    with ctx.transaction() as session:
        settings = load_settings(session, tenant_by_slug(session, args.tenant).id)
    print(json.dumps(settings.document, indent=2))


def cmd_settings_set(args) -> None:
    from loket.core.settings import load_settings, save_settings
    from loket.core.tenants import tenant_by_slug
    ctx = _ctx(args)
    document = json.loads(Path(args.file).read_text() if args.file else sys.stdin.read())
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, args.tenant)
        before = load_settings(session, tenant.id).document
        save_settings(session, tenant.id, {**before, **document})
        audit.record(session, CLI, "settings.updated", "tenant", tenant.id, before=before,
                     after=document, tenant_id=tenant.id)
    print("settings saved")


def cmd_keys_generate(args) -> None:
    from loket.core.secrets import SecretBox
    print(SecretBox.generate_key())


def cmd_keys_rotate(args) -> None:
    from sqlalchemy import select
    from loket.core.models import GatewayConfiguration
    ctx = _ctx(args)
    count = 0
    with ctx.transaction() as session:
        for row in session.scalars(select(GatewayConfiguration).where(
                GatewayConfiguration.credentials_encrypted.is_not(None))):
            row.credentials_encrypted = ctx.secrets.rotate(row.credentials_encrypted)
            count += 1
        audit.record(session, CLI, "keys.rotated", "gateway_configuration", "*",
                     after={"count": count})
    print(f"re-encrypted {count} gateway configuration(s) with the newest key")


def cmd_import_receivables(args) -> None:
    from loket.core.host.receivables import import_csv
    from loket.core.tenants import tenant_by_slug
    ctx = _ctx(args)
    with ctx.transaction() as session:
        count = import_csv(session, CLI, tenant_by_slug(session, args.tenant).id,
                           Path(args.file).read_text())
    print(f"imported {count} receivable(s)")


def cmd_demo(args) -> None:
    from loket.demo import load_demo
    ctx = _ctx(args)
    migrate.upgrade(ctx.engine)
    keys = load_demo(ctx, _signer(ctx))
    print("demo tenant " + ("created" if keys.created else "already present") +
          f"; serving on {ctx.config.base_url}")
    for role, key in keys.api_keys.items():
        print(f"  {role:<20} {key}")
    print(f"  consumer WU-10001    {keys.consumer_token}")


def cmd_sandbox_settle(args) -> None:
    from loket.gateways import sandbox_page, sandbox_store
    ctx = _ctx(args)
    options = {"var_dir": str(ctx.config.var_dir), **ctx.config.gateway_options.get("sandbox", {})}
    db = sandbox_store.open_path(sandbox_store.store_path(options))
    hooks = sandbox_page.settle(db)
    for hook in hooks:
        status = hook.deliver()
        print(f"settlement webhook -> {hook.url.rsplit('/', 1)[0]}/… answered {status}")
    print(f"settled {len(hooks)} payment(s)")


def cmd_serve(args) -> None:
    from loket.server.app import create_app
    from loket.server.devserver import serve
    ctx = _ctx(args)
    ctx.check_stored_money()
    serve(create_app(ctx), args.host, args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``loket`` command (sub-commands register here)."""
    parser = argparse.ArgumentParser(prog="loket", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    tenant = sub.add_parser("tenant").add_subparsers(dest="tenant_cmd", required=True)
    create = tenant.add_parser("create", help="create a tenant")
    create.add_argument("slug")
    create.add_argument("--name")
    create.add_argument("--currency", default="USD")
    create.add_argument("--locale", default="en_US")
    create.add_argument("--timezone", default="UTC")
    create.set_defaults(func=cmd_tenant_create)

    apikey = sub.add_parser("apikey").add_subparsers(dest="apikey_cmd", required=True)
    key = apikey.add_parser("create", help="create an API key (printed once)")
    key.add_argument("--tenant", required=True)
    key.add_argument("--role", required=True)
    key.add_argument("--name")
    key.set_defaults(func=cmd_apikey_create)

    token = sub.add_parser("token", help="issue a consumer token for one account")
    token.add_argument("--tenant", required=True)
    token.add_argument("--account", required=True)
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    plugins = sub.add_parser("plugins", help="list plugins, their kind and hooks")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)

    settings = sub.add_parser("settings").add_subparsers(dest="settings_cmd", required=True)
    show = settings.add_parser("show")
    show.add_argument("--tenant", required=True)
    show.set_defaults(func=cmd_settings_show)
    set_ = settings.add_parser("set", help="merge a JSON document into the settings")
    set_.add_argument("--tenant", required=True)
    set_.add_argument("file", nargs="?")
    set_.set_defaults(func=cmd_settings_set)

    keys = sub.add_parser("keys").add_subparsers(dest="keys_cmd", required=True)
    keys.add_parser("generate", help="print a new LOKET_SECRET_KEY").set_defaults(
        func=cmd_keys_generate)
    keys.add_parser("rotate", help="re-encrypt credentials with the newest key").set_defaults(
        func=cmd_keys_rotate)

    imp = sub.add_parser("import").add_subparsers(dest="import_cmd", required=True)
    rec = imp.add_parser("receivables", help="import bills/services/installments from CSV")
    rec.add_argument("file")
    rec.add_argument("--tenant", required=True)
    rec.set_defaults(func=cmd_import_receivables)

    sub.add_parser("demo", help="load the demo tenant and print keys").set_defaults(
        func=cmd_demo)

    sandbox = sub.add_parser("sandbox").add_subparsers(dest="sandbox_cmd", required=True)
    sandbox.add_parser("settle", help="pay out every paid sandbox checkout").set_defaults(
        func=cmd_sandbox_settle)

    serve = sub.add_parser("serve", help="serve the API (development server; use gunicorn "
                                         "in production)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
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
    import os
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
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
