"""Warnings of the rules (inline scripts in unit markup) are logged at WARNING once, at file:line:col, when a
state goes live: at start-up and on a reload (issue 11). Ad ops who watch the log see them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from adinject import LiveRules

CLEAN = """\
units:
  ad:
    html: '<div class="ad">Advertisement</div>'
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - unit: ad
        after_paragraph: 1
"""
SCRIPTED = CLEAN.replace(
    "    html: '<div class=\"ad\">Advertisement</div>'\n",
    '    html: |\n      <div class="ad">\n        <script>window.ads = 1</script>\n      </div>\n',
)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "adinject" and r.levelno == logging.WARNING]


def test_warnings_are_logged_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "news.yaml").write_text(SCRIPTED)
    caplog.set_level(logging.INFO, logger="adinject")
    LiveRules(tmp_path, watch=False, metrics=None)
    (message,) = warnings_logged(caplog)
    assert "1 warning" in message
    assert f"{tmp_path / 'news.yaml'}:5:9: warning: units.ad.html: an inline <script> in a unit" in message


def test_warnings_of_a_change_are_logged_once_when_it_goes_live(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "news.yaml").write_text(CLEAN)
    caplog.set_level(logging.INFO, logger="adinject")
    live = LiveRules(tmp_path, watch=False, settle=0.01, metrics=None)
    assert warnings_logged(caplog) == []
    (tmp_path / "news.yaml").write_text(SCRIPTED)
    assert live.check() is True
    (message,) = warnings_logged(caplog)
    assert ":5:9: warning: units.ad.html:" in message and live.version in message
    # Looking again, or touching the file with the same bytes, logs nothing more.
    assert live.check() is False
    (tmp_path / "news.yaml").write_text(SCRIPTED)
    live.check()
    assert len(warnings_logged(caplog)) == 1
    # A change without warnings logs none.
    (tmp_path / "news.yaml").write_text(CLEAN.replace("after_paragraph: 1", "after_paragraph: 2"))
    assert live.check() is True
    assert len(warnings_logged(caplog)) == 1
