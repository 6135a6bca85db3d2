"""``loket import receivables`` streams a file of any size and shows its progress."""


from support.cli import env  # noqa: F401 - fixture

from loket.cli import main


def test_an_import_shows_its_progress_and_carries_attributes(env, tmp_path, capsys):
    rows = "".join(f"A-{i % 7},Payer {i % 7},bill,B-{i},{i + 1}.00\n" for i in range(12_000))
    csv_file = tmp_path / "bills.csv"
    csv_file.write_text("account_number,name,kind,reference,amount\n" + rows)
    assert main(["import", "receivables", str(csv_file), "--tenant", "water"]) == 0
    out, err = capsys.readouterr()
    assert "imported 12000 receivable(s)" in out
    assert "100% 12,000/12,000 rows" in err.splitlines()[-1]
    assert any("5,000/12,000 rows" in line for line in err.splitlines())

    attributed = tmp_path / "forms.csv"
    attributed.write_text("account_number,kind,reference,amount,attributes.dln\n"
                          "A-1,tax_form,TF-1,9.00,DLN12345678\n"
                          "A-1,bill,B-NEW,9.00,\n")
    assert main(["import", "receivables", str(attributed), "--tenant", "water",
                 "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    bad = tmp_path / "bad.csv"
    bad.write_text("account_number,kind,reference,amount,attributes.dln\n"
                   "A-1,tax_form,TF-2,9.00,lowercase\n")
    assert main(["import", "receivables", str(bad), "--tenant", "water"]) == 2
    assert "line 2: attributes are invalid" in capsys.readouterr().err
