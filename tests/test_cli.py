"""The ``loket`` command, run in-process against a throw-away SQLite database."""

import argparse
import io

import pytest
from support.cli import env  # noqa: F401 - fixture

import loket
from loket.cli import CLI, ENCRYPTED_COLUMNS, build_parser, main, serve_config
from loket.core import models
from loket.core.config import AppConfig, development_secret_key
from loket.core.context import Loket
from loket.core.models import Base, GatewayConfiguration, HostWebhookEndpoint
from loket.core.outbox import endpoints
from loket.core.secrets import SecretBox
from loket.core.tenants import authenticate_key, tenant_by_slug
from loket.errors import Unauthorized


def test_import_receivables_then_issue_a_token(env, tmp_path, capsys):
    csv_file = tmp_path / "bills.csv"
    csv_file.write_text(
        "account_number,name,kind,reference,amount,period,due_date\n"
        "A-1,Ann Example,bill,B-1,10.50,May 2025,2025-06-01\n"
        "A-1,Ann Example,service,S-1,5.00,,2025-06-01\n")
    assert main(["import", "receivables", str(csv_file), "--tenant", "water"]) == 0
    assert "imported 2 receivable(s)" in capsys.readouterr().out
    assert main(["token", "--tenant", "water", "--account", "A-1"]) == 0
    assert capsys.readouterr().out.count(".") == 1  # payload.signature


def test_a_bad_csv_line_is_named_and_nothing_is_imported(env, tmp_path, capsys):
    csv_file = tmp_path / "bills.csv"
    csv_file.write_text("account_number,name,kind,reference,amount\n"
                        "A-1,Ann,bill,B-1,10.50\nA-1,Ann,bill,B-2,10.505\n")
    assert main(["import", "receivables", str(csv_file), "--tenant", "water"]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "more than 2 decimals" in err
    assert main(["token", "--tenant", "water", "--account", "A-1"]) == 2  # no consumer either


def test_settings_set_refuses_invalid_values_with_their_path(env, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"credit_note_expiry_days": -1}')
    assert main(["settings", "set", "--tenant", "water", str(bad)]) == 2
    assert "$.credit_note_expiry_days" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text('{"credit_note_expiry_days": 30}')
    assert main(["settings", "set", "--tenant", "water", str(good)]) == 0
    capsys.readouterr()
    assert main(["settings", "show", "--tenant", "water"]) == 0
    assert '"credit_note_expiry_days": 30' in capsys.readouterr().out


def test_settings_set_refuses_a_route_to_a_processor_not_installed(env, tmp_path, capsys):
    routed = tmp_path / "routes.json"
    routed.write_text('{"destinations": {"meters": {"processor": "meter"}}}')
    assert main(["settings", "set", "--tenant", "water", str(routed)]) == 2
    assert "$.destinations.meters.processor" in capsys.readouterr().err


def test_api_key_roles_are_checked_and_the_key_is_printed_once(env, capsys):
    with pytest.raises(SystemExit) as refused:  # argparse: the role is not a choice
        main(["apikey", "create", "--tenant", "water", "--role", "wizard"])
    assert refused.value.code == 2
    assert main(["apikey", "create", "--tenant", "water", "--role", "cso_executive"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("lk_") and len(key) > 40


def test_keys_rotate_reencrypts_with_the_newest_key(env, monkeypatch, capsys):
    assert main(["demo"]) == 0  # the sandbox credentials, encrypted with the development key
    old = development_secret_key(env / "var")
    ctx = Loket.create(AppConfig.from_env(development_key=True))
    with ctx.transaction() as session:  # a host endpoint's signing secrets, the same key
        tenant_id = tenant_by_slug(session, "water").id
        row, first = endpoints.create_endpoint(ctx, session, CLI, tenant_id,
                                               "https://hooks.example.com/in", [])
        _, secret = endpoints.rotate_secret(ctx, session, CLI, tenant_id, row.id, 24)
    new = SecretBox.generate_key()
    monkeypatch.setenv("LOKET_SECRET_KEY", f"{new},{old}")
    assert main(["keys", "rotate"]) == 0
    assert ("re-encrypted 1 gateway configuration(s), 1 webhook endpoint secret(s) and 1 "
            "rotated-out webhook endpoint secret(s)" in capsys.readouterr().out)
    monkeypatch.setenv("LOKET_SECRET_KEY", new)  # the old key is gone: still readable
    ctx = Loket.create(AppConfig.from_env())
    with ctx.transaction() as session:
        row = session.query(GatewayConfiguration).one()
        assert ctx.secrets.decrypt(row.credentials_encrypted)["merchant_name"]
        endpoint = session.query(HostWebhookEndpoint).one()
        assert ctx.secrets.decrypt(endpoint.secret_encrypted) == {"secret": secret}
        assert endpoints.signing_secrets(ctx, endpoint, ctx.now()) == [secret, first]


def test_keys_rotate_leaves_what_no_key_decrypts_and_says_so(env, monkeypatch, capsys):
    # The key set, as rotating in production is (on the development key it refuses at once).
    monkeypatch.setenv("LOKET_SECRET_KEY", development_secret_key(env / "var"))
    ctx = Loket.create(AppConfig.from_env())
    with ctx.transaction() as session:
        tenant_id = tenant_by_slug(session, "water").id
        row, _ = endpoints.create_endpoint(ctx, session, CLI, tenant_id,
                                           "https://hooks.example.com/in", [])
        row.secret_encrypted = SecretBox((SecretBox.generate_key(),)).encrypt({"secret": "x"})
    assert main(["keys", "rotate"]) == 1
    out, err = capsys.readouterr()
    assert ("re-encrypted 0 gateway configuration(s), 0 webhook endpoint secret(s) and 0 "
            "rotated-out webhook endpoint secret(s)") in out
    assert f"webhook endpoint secret {row.id}" in err


def test_keys_rotate_knows_every_encrypted_column():
    encrypted = {(table.name, column.name) for table in Base.metadata.sorted_tables
                 for column in table.columns if column.name.endswith("_encrypted")}
    rotated = {(getattr(models, name).__tablename__, column)
               for name, column, _ in ENCRYPTED_COLUMNS}
    assert encrypted == rotated


def _commands(parser, path=()):
    """Every (path, parser) of the command tree."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield path + (name,), helps.get(name), child
                yield from _commands(child, path + (name,))


def test_every_command_says_what_it_does_in_plain_words():
    commands = list(_commands(build_parser()))
    assert len(commands) > 25
    missing = [" ".join(path) for path, help_text, _ in commands if not help_text]
    assert missing == []
    texts = [help_text for _, help_text, _ in commands] + [
        action.help or "" for _, _, child in commands for action in child._actions]
    texts += [child.description or "" for _, _, child in commands]
    assert [t for t in texts if "``" in t or ":func:" in t or ":mod:" in t] == []


def test_version_and_role_choices(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"loket {loket.__version__}"
    with pytest.raises(SystemExit):
        main(["apikey", "create", "--help"])
    assert "{tenant_admin,cso_admin," in capsys.readouterr().out


def test_api_keys_are_listed_by_prefix_and_revoked(env, capsys):
    assert main(["apikey", "create", "--tenant", "water", "--role", "cso_admin",
                 "--name", "front desk"]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["apikey", "list", "--tenant", "water"]) == 0
    listed = capsys.readouterr().out
    assert key[:10] in listed and "cso_admin" in listed and "front desk" in listed
    assert key not in listed
    assert main(["apikey", "revoke", "--tenant", "water", key[:10]]) == 0
    assert main(["apikey", "list", "--tenant", "water"]) == 0
    assert capsys.readouterr().out.strip().endswith("no API keys")
    ctx = Loket.create(AppConfig.from_env(development_key=True))
    with ctx.transaction() as session, pytest.raises(Unauthorized):
        authenticate_key(session, key)
    assert main(["apikey", "revoke", "--tenant", "water", key[:10]]) == 2


def test_demo_again_revokes_the_keys_it_printed_before(env, capsys):
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "demo tenant 'demo' created" in first
    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "demo tenant 'demo' already present" in second
    assert main(["apikey", "list", "--tenant", "demo"]) == 0
    live = capsys.readouterr().out.strip().splitlines()
    assert len(live) == 6  # one per staff role, from the second run only
    old_keys = [line.split()[-1] for line in first.splitlines() if line.strip().startswith(
        ("tenant_admin", "cso_admin"))]
    ctx = Loket.create(AppConfig.from_env(development_key=True))
    with ctx.transaction() as session:
        for key in old_keys:
            with pytest.raises(Unauthorized):
                authenticate_key(session, key)


def test_serve_builds_links_on_the_port_it_serves():
    assert serve_config("127.0.0.1", 8123, {}).base_url == "http://127.0.0.1:8123"
    outside = {"LOKET_BASE_URL": "https://pay.example.org"}
    assert serve_config("0.0.0.0", 8123, outside).base_url == "https://pay.example.org"


def test_a_database_not_yet_migrated_is_named_with_the_command_that_fixes_it(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert main(["tenant", "create", "water", "--name", "Water Co",
                 "--currency", "USD"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("loket: a database statement failed (OperationalError: no such "
                          "table: tenants)\n")
    assert "empty database" in err and "run `loket db upgrade`" in err
    assert "Traceback" not in err and "SELECT" not in err
    assert main(["db", "upgrade"]) == 0
    assert main(["tenant", "create", "water", "--name", "Water Co", "--currency", "USD"]) == 0


@pytest.mark.parametrize("content, reason", [
    (None, "No such file or directory"),
    ('{"credit_note_expiry_days": ', "not JSON (Expecting value at line 1, column 29)"),
    ("[1, 2]", "a settings document is a JSON object ({...}), not an array"),
    (b"\xff\xfe{}", "not UTF-8 text (invalid start byte)"),
])
def test_settings_set_names_the_file_it_cannot_use(env, tmp_path, capsys, content, reason):
    path = tmp_path / "settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["settings", "set", "--tenant", "water", str(path)]) == 2
    assert capsys.readouterr().err == f"loket: {path}: {reason}\n"


def test_settings_set_from_standard_input_takes_only_an_object(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO('"water"'))
    assert main(["settings", "set", "--tenant", "water"]) == 2
    assert capsys.readouterr().err == ("loket: standard input: a settings document is a JSON "
                                       "object ({...}), not a string\n")


def test_import_receivables_names_a_missing_or_binary_file(env, tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["import", "receivables", str(missing), "--tenant", "water"]) == 2
    assert capsys.readouterr().err == f"loket: {missing}: No such file or directory\n"
    binary = tmp_path / "bills.csv"
    binary.write_bytes(b"account_number,name,kind,reference,amount\n\xff\xfe\x00garbage\x81\n")
    assert main(["import", "receivables", str(binary), "--tenant", "water", "--quiet"]) == 2
    assert capsys.readouterr().err == f"loket: {binary}: not UTF-8 text (invalid start byte)\n"


@pytest.mark.parametrize("slug", ["", "gas/water", "gas water?", "x" * 65])
def test_tenant_create_refuses_a_slug_that_cannot_be_in_a_url(env, capsys, slug):
    assert main(["tenant", "create", slug]) == 2
    err = capsys.readouterr().err
    assert "  slug: a tenant's slug is 1 to 64 lowercase letters" in err
    assert "Traceback" not in err
