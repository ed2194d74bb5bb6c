"""`gpt_library_hosts` on the middleware (issue 11): the hosts `settings.gpt_library_url` may name besides
Google's are the developers' choice, made where they mount the middleware, never a rule file's."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette

from adinject.http import AdInjectMiddleware
from adinject.reload import LiveRules

RULES = """\
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}">Advertisement</div>'
    gpt: {ad_unit: /1234/news, sizes: [[300, 250]]}
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - unit: ad
        after_paragraph: 1
settings:
  gpt_library_url: GPT_URL
"""
CDN = "https://cdn.example.com/gpt.js"


def folder_with(tmp_path: Path, url: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "news.yaml").write_text(RULES.replace("GPT_URL", url))
    return folder


def middleware(folder: Path, **kw: object) -> AdInjectMiddleware:
    return AdInjectMiddleware(Starlette(), rules=folder, reload=False, metrics=False, **kw)  # type: ignore[arg-type]


def test_another_host_is_refused_by_default_with_a_message_at_the_key(tmp_path: Path) -> None:
    app = middleware(folder_with(tmp_path, CDN))
    assert app.startup_error is not None
    (problem,) = app.startup_error.problems
    assert (problem.line, problem.key) == (13, "settings.gpt_library_url")
    assert "'cdn.example.com' is not a GPT host" in problem.message


def test_a_host_the_developers_allow_is_accepted(tmp_path: Path) -> None:
    app = middleware(folder_with(tmp_path, CDN), gpt_library_hosts=["cdn.example.com"])
    assert app.startup_error is None
    assert app.live is not None and app.live.good is not None
    assert app.live.good.settings.gpt_library_url == CDN


def test_allowing_a_host_keeps_googles_and_the_site_s_own_paths(tmp_path: Path) -> None:
    for url in ("https://securepagead2.googlesyndication.com/tag/js/gpt.js", "/static/gpt.js"):
        app = middleware(folder_with(tmp_path, url), gpt_library_hosts=["CDN.example.com"])
        assert app.startup_error is None, url
    assert (
        middleware(
            folder_with(tmp_path, "https://other.example.com/gpt.js"), gpt_library_hosts=["cdn.example.com"]
        ).startup_error
        is not None
    )


def test_the_hosts_hold_for_every_reload(tmp_path: Path) -> None:
    # A change naming the host later goes live too: the hosts are the LiveRules', not the first load's.
    folder = folder_with(tmp_path, "/static/gpt.js")
    allowed = LiveRules(folder, watch=False, settle=0.01, metrics=None, gpt_hosts={"cdn.example.com"})
    default = LiveRules(folder, watch=False, settle=0.01, metrics=None)
    folder_with(tmp_path, CDN)
    assert allowed.check() is True and allowed.good is not None
    assert allowed.good.settings.gpt_library_url == CDN
    assert default.check() is False and default.last_error is not None


def test_one_string_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="gpt_library_hosts"):
        middleware(folder_with(tmp_path, CDN), gpt_library_hosts="cdn.example.com")
