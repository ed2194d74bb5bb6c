"""`adinject check` counts what stops the rules apart from what only asks for a look."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.cli import main

RULES = """\
units:
  ad:
    html: '{{{{ 9 ** 8000000 }}}}<div>{script}</div>'
rules:
  - name: r
    pages: {{paths: ["/news/**"]}}
    place: [{{unit: ad, after_paragraph: 1}}]
"""


def test_check_counts_problems_and_warnings_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RULES.format(script="<script>x()</script>"))
    assert main(["check", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "units.ad.html: the template goes over a budget" in out
    assert "warning: units.ad.html" in out
    assert err.strip().splitlines()[-1] == "1 problem, 1 warning"
    assert "Traceback" not in out + err


def test_check_without_warnings_says_problems_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(RULES.format(script=""))
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "1 problem"


def test_check_knows_the_hosts_the_developers_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(
        "settings:\n  gpt_library_url: https://cdn.example.com/gpt.js\n"
        + RULES.format(script="").replace("{{ 9 ** 8000000 }}", "ad")
    )
    assert main(["check", str(tmp_path)]) == 1
    assert "ask the site's developers" in capsys.readouterr().out
    assert main(["check", str(tmp_path), "--gpt-host", "CDN.example.com"]) == 0
    assert capsys.readouterr().out.startswith("ok:")
