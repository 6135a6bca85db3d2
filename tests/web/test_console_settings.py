"""The tenant admin's settings screen: what it saves is what ``/v1/settings`` then reports,
refused fields are named beside the field and nothing is saved, every save is audited."""

from __future__ import annotations

import re

from support.console import Person, text_of


def signed_in(api, role: str) -> Person:
    person = Person(client=api.client)
    person.follow(person.sign_in(api.keys[role]))
    return person


def form_of(page: str) -> list[tuple[str, str]]:
    """The form's current text values as the browser would send them back."""
    pairs = [(name, value.replace("&amp;", "&")) for name, value in
             re.findall(r'<input id="f-[^"]+" name="([^"]+)" type="text" value="([^"]*)"', page)]
    pairs += [("locale", re.search(r'<option value="([^"]+)" selected', page).group(1))]
    pairs += [(name, value) for name, value in
              re.findall(r'name="(guest\.verify|part_payments\.allowed|guest\.enabled)" '
                         r'value="([^"]+)"[^>]* checked', page)]
    return pairs


def changed(pairs: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    new = {k.replace("__", "."): v for k, v in values.items()}
    return [(k, new.pop(k) if k in new else v) for k, v in pairs] + list(new.items())


def test_the_admin_changes_language_zone_address_and_an_approval_threshold(api):
    admin = signed_in(api, "tenant_admin")
    page = admin.get("/console/settings")
    assert page.status_code == 200 and "Test Water" in text_of(page.text)
    result = admin.post("/console/settings", changed(
        form_of(page.text), locale="id_ID", timezone="Asia/Jakarta",
        documents__address="Jl. Sudirman 1, Jakarta", approvals__refund_above="100.00",
        channels="walk-in, online, kiosk, bank, mobile"))
    assert result.status_code == 303, text_of(result.text)
    saved = admin.follow(result)
    assert "Pengaturan disimpan." in text_of(saved.text)  # the console now speaks Indonesian
    settings = api.get("/v1/settings", role="tenant_admin").json
    assert settings["locale"] == "id_ID" and settings["timezone"] == "Asia/Jakarta"
    assert settings["documents"]["address"] == "Jl. Sudirman 1, Jakarta"
    assert settings["approvals"]["refund_above"] == "100.00"
    assert settings["channels"][-1] == "mobile"
    assert settings["credit_note_expiry_days"] == 365  # untouched fields keep their value
    trail = api.get(f"/v1/audit/tenant/{api.tenant_id}", role="tenant_admin").json["items"]
    assert any(e["action"] == "settings.updated" and e["after"]["locale"] == "id_ID"
               for e in trail)


def test_refused_fields_are_named_beside_the_field_and_nothing_is_saved(api):
    admin = signed_in(api, "tenant_admin")
    page = admin.get("/console/settings")
    result = admin.post("/console/settings", changed(
        form_of(page.text), timezone="Mars/Olympus", notes_max_length="lots"))
    assert result.status_code == 422
    assert 'id="err-notes_max_length"' in result.text
    assert "Enter a whole number." in text_of(result.text)
    assert 'value="lots"' in result.text  # the person's input is kept to correct
    result = admin.post("/console/settings", changed(form_of(page.text), timezone="Mars/Olympus"))
    assert result.status_code == 422 and 'id="err-timezone"' in result.text
    assert "Unknown time zone: give an IANA name such as Asia/Jakarta." in text_of(result.text)
    assert api.get("/v1/settings", role="tenant_admin").json["timezone"] == "UTC"


def test_guest_facts_and_a_logo_upload(api):
    admin = signed_in(api, "tenant_admin")
    page = admin.get("/console/settings")
    fields = [p for p in changed(form_of(page.text), guest__enabled="1")
              if p[0] != "guest.verify"] + [("guest.verify", "postcode")]
    assert admin.follow(admin.post("/console/settings", fields)).status_code == 200
    guest = api.get("/v1/settings", role="tenant_admin").json["guest"]
    assert guest["enabled"] and guest["verify"] == ["postcode"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin.page).group(1)
    boundary = "loketboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in form_of(admin.page) + [("csrf", csrf)]]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; '
                 f'filename="logo.png"\r\nContent-Type: image/png\r\n\r\n'.encode() + png + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    result = admin.client.simulate_post("/console/settings", body=body, headers=admin._headers(
        {"Content-Type": f"multipart/form-data; boundary={boundary}"}))
    assert result.status_code == 303, text_of(result.text)
    documents = api.get("/v1/settings", role="tenant_admin").json["documents"]
    assert documents["logo"].startswith("iVBORw0KGgo")


def test_other_admins_read_the_settings_but_cannot_save_them(api):
    cso = signed_in(api, "cso_admin")
    page = cso.get("/console/settings")
    assert page.status_code == 200 and "Save settings" not in text_of(page.text)
    assert cso.post("/console/settings", form_of(page.text)).status_code == 403
    assert signed_in(api, "cso_executive").get("/console/settings").status_code == 403


def message_of(html: str, path: str) -> str:
    """The text of the message under the settings field ``path``."""
    found = re.search(rf'<p class="notice bad" id="err-{re.escape(path.replace(".", "-"))}">'
                      r"(.*?)</p>", html, re.S)
    assert found, f"no message under {path}"
    return text_of(found.group(1))


def test_an_indonesian_admin_reads_the_fields_messages_in_indonesian(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    admin = signed_in(api, "tenant_admin")
    page = admin.get("/console/settings")
    result = admin.post("/console/settings", changed(
        form_of(page.text), notes_max_length="lots", credit_note_expiry_days="0",
        payment_timeout_minutes="99999", currency="usd1", return_url="ftp://files",
        number_formats__payment="PAY-1", overpayment_threshold="1,5",
        part_payments__minimum="1.505", channels=""))
    assert result.status_code == 422
    assert result.headers["content-type"].startswith("text/html")
    said = {path: message_of(result.text, path) for path in (
        "notes_max_length", "credit_note_expiry_days", "payment_timeout_minutes", "currency",
        "return_url", "number_formats.payment", "overpayment_threshold", "channels")}
    assert said == {
        "notes_max_length": "Masukkan bilangan bulat.",
        "credit_note_expiry_days": "Masukkan paling sedikit 1.",
        "payment_timeout_minutes": "Masukkan paling banyak 10080.",
        "currency": "Masukkan kode mata uang seperti IDR atau USD.",
        "return_url": "Masukkan alamat yang diawali https:// atau http://.",
        "number_formats.payment": "Format harus memuat {seq}.",
        "overpayment_threshold": "Masukkan angka seperti 500 atau 12.50.",
        "channels": "Berikan paling sedikit satu."}
    assert 'lang="en"' not in result.text.split("<main>", 1)[1]  # nothing left in English
    decimals = admin.post("/console/settings", changed(form_of(page.text),
                                                       part_payments__minimum="1.505"))
    assert message_of(decimals.text, "part_payments.minimum") == "Terlalu banyak desimal: " \
        "paling banyak 2."
    zone = admin.post("/console/settings", changed(form_of(page.text), timezone="Mars/Olympus",
                                                   autopay__retry_days="3, 1"))
    assert message_of(zone.text, "timezone") == ("Zona waktu tidak dikenal: gunakan nama IANA "
                                                 "seperti Asia/Jakarta.")
    days = admin.post("/console/settings", changed(form_of(page.text),
                                                   autopay__retry_days="3, 1"))
    assert message_of(days.text, "autopay.retry_days") == ("Tuliskan hari-harinya berurutan "
                                                           "dari yang terkecil.")
    assert api.get("/v1/settings", role="tenant_admin").json["currency"] == "USD"
