"""The `adinject` command: render a page, check rule files, explain what the engine saw."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adinject.engine import Rules, load_rules
from adinject.language.problems import Problem, RulesError, unexpected
from adinject.language.schema import GPT_LIBRARY_HOSTS
from adinject.preview import rule_states
from adinject.reload.killswitch import KillSwitch
from adinject.result import ApplyResult, Insertion

TOKEN_ENV = "ADINJECT_DEBUG_TOKEN"
# The page's <meta http-equiv> policies are read from the page itself; a policy the server sends as a header
# is not in the file, so it is given here (as the middleware reads it from the response).
CSP_HELP = "the response's Content-Security-Policy header (repeatable): the GPT scripts get its nonce"
NOW_HELP = (
    "the moment to read schedules at, ISO 8601 (2026-12-24T18:00:00+01:00; without an offset, UTC); "
    "default: now"
)


def _headers(values: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep:
            raise SystemExit(f"adinject: --header wants 'Name: value', got {raw!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def _loaded(path: str, gpt_hosts: Sequence[str] = ()) -> Rules:
    """`load_rules`, raising nothing but `RulesError`: a load that fails for any reason is reported as the
    rules' problem, never as a traceback. `gpt_hosts`: hosts the site's developers allow for GPT beyond
    Google's (the middleware's `gpt_library_hosts`)."""
    try:
        return load_rules(path, gpt_hosts=GPT_LIBRARY_HOSTS | {host.lower() for host in gpt_hosts})
    except RulesError:
        raise
    except Exception as exc:
        raise unexpected(path, exc) from None


def _load(path: str) -> Rules:
    try:
        return _loaded(path)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(1) from None


def _fail(args: argparse.Namespace, message: str) -> NoReturn:
    """A mistake in the command line itself (a file that is not there): one line, and status 2, as
    argparse does for its own usage errors; status 1 stays "the rules have problems"."""
    print(f"adinject {args.command}: {message}", file=sys.stderr)
    raise SystemExit(2)


def _read_page(args: argparse.Namespace, path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        _fail(args, f"cannot read the page {path}: {exc.strerror or exc}")


def _context(args: argparse.Namespace) -> Any:
    if not args.context:
        return {}
    try:
        return json.loads(Path(args.context).read_text())
    except OSError as exc:
        _fail(args, f"cannot read the context {args.context}: {exc.strerror or exc}")
    except ValueError as exc:
        _fail(args, f"the context {args.context} is not JSON: {exc}")


def _now(value: str) -> datetime:
    """`--now`: an ISO 8601 moment; one without a UTC offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date and time: {value!r} (e.g. 2026-12-24T18:00:00+01:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def kill_switch(rules_path: str) -> str | None:
    """What turned the kill switch on for this rules folder (its OFF file, or ADINJECT_OFF), or None."""
    path = Path(rules_path)
    switch = KillSwitch(path.parent if path.is_file() else path)
    return switch.source() if switch.on() else None


def _off_note(off: str) -> str:
    return (
        f"{off}, so the site serves every page without units until it is removed; shown is what the rules "
        "would do with it off"
    )


def cmd_render(args: argparse.Namespace) -> int:
    rules = _load(args.rules)
    headers = _headers(args.header)
    headers.setdefault("content-type", "text/html")
    page = _read_page(args, args.page)
    context = _context(args)
    result = rules.apply(page, url=args.url, headers=headers, context=context, now=args.now, csp=args.csp)
    off = kill_switch(args.rules)
    if off is not None:
        print(f"adinject render: warning: the kill switch is on: {_off_note(off)}", file=sys.stderr)
    sys.stdout.buffer.write(result.body)
    sys.stdout.buffer.flush()
    if args.report:
        report = result.report()
        if off is not None:
            report["kill_switch"] = off  # readers get none of the insertions listed
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _tally(problems: list[Problem]) -> str:
    """ "2 problems, 1 warning": what stops the rules and what only asks for a look, counted apart."""
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    said = f"{errors} problem{'s' if errors != 1 else ''}"
    return said + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "")


def cmd_check(args: argparse.Namespace) -> int:
    try:
        rules = _loaded(args.path, args.gpt_host)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem)
        print(_tally(exc.problems), file=sys.stderr)
        return 1
    compiled = rules.compiled
    for warning in compiled.warnings:
        print(warning)
    off = kill_switch(args.path)
    if off is not None:
        # Valid rules with the switch on: still `ok` (the rules are fine, and a deploy check must not fail
        # because someone switched units off), but nobody should read `ok` as "units are live".
        print(
            f"warning: the kill switch is on ({off}): the site places no unit on any page until it is removed"
        )
    print(
        f"ok: {len(compiled.files)} file(s), {len(compiled.rules)} rule(s), {len(compiled.units)} unit(s), "
        f"version {rules.version}"
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    rules = _load(args.rules)
    headers = _headers(args.header)
    headers.setdefault("content-type", "text/html")
    page = _read_page(args, args.page)
    result = rules.apply(page, url=args.url, headers=headers, explain=True, now=args.now, csp=args.csp)
    off = kill_switch(args.rules)
    text = explain_text(rules, result, args.url, now=args.now)
    if off is not None:
        text = f"KILL SWITCH ON: {_off_note(off)}\n{text}\n(kill switch on: readers get none of these units)"
    print(text)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from adinject.preview import annotate, unit_insertions  # imported here: the other commands do not need it

    if (args.page is None) == (args.source is None):
        raise SystemExit("adinject preview: give a page file or --from URL (one of them)")
    rules = _load(args.rules)
    headers = _headers(args.header)
    base_url: str | None = None  # a fetched page's address: the preview loads its stylesheets from there
    if args.source is not None:
        body, content_type, base_url = fetch_page(args.source, args.token or os.environ.get(TOKEN_ENV))
        headers["content-type"] = content_type
        # The path and query the site saw: rules match the path, `query:` conditions read the query.
        source = urlsplit(args.source)
        url = args.url or (source.path or "/") + (f"?{source.query}" if source.query else "")
    else:
        body = _read_page(args, args.page)
        url = args.url or "/"
    headers.setdefault("content-type", "text/html")
    context = _context(args)
    off = kill_switch(args.rules)
    notes = [f"The kill switch is on: {_off_note(off)}."] if off is not None else []
    annotated = annotate(
        rules,
        body,
        url=url,
        headers=headers,
        context=context,
        notes=notes,
        now=args.now,
        csp=args.csp,
        base_url=base_url,
    )
    if args.output == "-":
        sys.stdout.buffer.write(annotated.body)
        sys.stdout.buffer.flush()
    else:
        Path(args.output).write_bytes(annotated.body)
    result = annotated.result
    missed = sum(1 for s in result.skipped if s.missed)
    capped = sum(1 for s in result.skipped if s.capped)
    where = "" if args.output == "-" else f"; wrote {args.output}"
    print(
        f"{url}: {len(unit_insertions(result))} unit(s) inserted, {missed} did not land"
        f"{f', {capped} capped by max' if capped else ''} (rules version {rules.version}){where}"
        f"{f'; KILL SWITCH ON ({off}): readers get none of them' if off is not None else ''}",
        file=sys.stderr,
    )
    return 0


def fetch_page(url: str, token: str | None) -> tuple[bytes, str, str]:
    """GET a live page: its bytes, its Content-Type, and its address (where a redirect ended, if any).

    A site running adinject sends its pages with the units in; with the debug token the request asks for
    the app's own page (`?adinject=original`), so the preview is of the page the rules actually see.
    """
    given = url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise SystemExit(f"adinject preview: --from wants an http:// or https:// URL, got {url!r}")
    headers = {"User-Agent": "adinject-preview", "Accept": "text/html"}
    if token:
        query = [*parse_qsl(parts.query, keep_blank_values=True), ("adinject", "original")]
        url = urlunsplit(parts._replace(query=urlencode(query)))
        headers["X-AdInject-Debug"] = token
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body: bytes = response.read()
            content_type = response.headers.get("content-type", "text/html")
            timing = " ".join(response.headers.get_all("server-timing") or [])
            # Relative addresses in the page resolve against where it was served from, after redirects.
            final = response.geturl()
            address = given if final == url else final
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"adinject preview: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(f"adinject preview: cannot fetch {url}: {exc}") from None
    if not token and "adinject" in timing:
        print(
            "adinject preview: warning: the site's adinject already put units into this page, so the "
            f"preview shows them twice; give the site's debug token (--token or {TOKEN_ENV}) to fetch "
            "the page without them",
            file=sys.stderr,
        )
    return body, content_type, address


def explain_text(rules: Rules, result: ApplyResult, url: str, now: datetime | None = None) -> str:
    at = f", at {now.isoformat()}" if now is not None else ""
    lines: list[str] = [f"URL {url}  (rules version {rules.version}, encoding {result.encoding or '?'}{at})"]
    lines.extend(f"rule '{rule.name}': {state}" for rule, state in rule_states(rules, result, url))
    for trace in result.traces:
        lines.append("")
        lines.append(f"== rule '{trace.rule}'")
        if trace.container is None:
            lines.append("   container: none found")
        else:
            lines.append(
                f"   container: <{trace.container_tag}> found by '{trace.container}' "
                f"at byte {trace.container_offset}"
            )
        counted = sum(1 for p in trace.paragraphs if p.number is not None)
        lines.append(f"   paragraphs: {counted} counted, {trace.counted_words} words")
        for p in trace.paragraphs:
            if p.number is not None:
                lines.append(f"   {p.number:>4}  {p.words:>4}w  {p.first_words}")
            else:
                lines.append(f"      -  {p.words:>4}w  {p.first_words}   [left out: {p.left_out}]")
        lines.extend(_insertion_line(ins) for ins in result.insertions if ins.rule == trace.rule)
        for skip in result.skipped:
            if skip.rule == trace.rule:
                at = f" (wanted after paragraph {skip.paragraph})" if skip.paragraph else ""
                # A unit a `max` left out was not wanted: it is not one that could not land.
                mark = "   ~ capped:" if skip.capped else "   -"
                lines.append(f"{mark} {skip.unit or 'rule'}{at}: {skip.reason} [{skip.code}]")
    units = 0
    for ins in result.insertions:
        if ins.anchor == "head":
            # Page-level: the GPT scripts that wire the units, not a unit of the article.
            lines.append(f"page: GPT scripts inserted {ins.note or 'in <head>'}, at byte {ins.offset}")
        else:
            units += 1
    for skip in result.skipped:
        if skip.rule is None:
            lines.append(f"page: {skip.reason} [{skip.code}]")
    lines.append("")
    capped = sum(1 for s in result.skipped if s.capped)
    lines.append(
        f"{units} unit(s) inserted, {len(result.skipped) - capped} skipped, {capped} capped by max, "
        f"{result.duration_ms:.2f} ms"
    )
    return "\n".join(lines)


def _insertion_line(ins: Insertion) -> str:
    if ins.anchor != "paragraph":
        where = ins.note
    else:
        where = f"after paragraph {ins.paragraph}" if ins.paragraph else "before the first paragraph"
    note = f" ({ins.note})" if ins.note and ins.anchor == "paragraph" else ""
    return f"   + {ins.unit} #{ins.slot_id} {where}, at byte {ins.offset}{note}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adinject", description="Place in-article units from ad-ops rule files."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="write the page with its units to stdout")
    render.add_argument("page", help="an HTML file, or - for stdin")
    render.add_argument("--rules", required=True, help="rules folder or file")
    render.add_argument("--url", default="/", help="the page's URL path and query (rules match the path)")
    render.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    render.add_argument("--context", help="a JSON file of values for unit templates (`context`)")
    render.add_argument(
        "--report",
        help="write a JSON report of insertions and skipped units here; each insertion's offset is a byte "
        "offset in the original page (the input, before any unit went in)",
    )
    render.add_argument("--csp", action="append", default=[], metavar="POLICY", help=CSP_HELP)
    render.add_argument("--now", type=_now, metavar="WHEN", help=NOW_HELP)
    render.set_defaults(func=cmd_render)

    check = sub.add_parser("check", help="validate rule files; one line per problem, file:line:col")
    check.add_argument("path", help="rules folder or file")
    check.add_argument(
        "--gpt-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host the site allows for settings.gpt_library_url beyond Google's (the middleware's "
        "gpt_library_hosts; repeatable)",
    )
    check.set_defaults(func=cmd_check)

    explain = sub.add_parser("explain", help="show what the engine saw on a page and why")
    explain.add_argument("page", help="an HTML file, or - for stdin")
    explain.add_argument("--rules", required=True, help="rules folder or file")
    explain.add_argument("--url", default="/", help="the page's URL path and query")
    explain.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    explain.add_argument("--csp", action="append", default=[], metavar="POLICY", help=CSP_HELP)
    explain.add_argument("--now", type=_now, metavar="WHEN", help=NOW_HELP)
    explain.set_defaults(func=cmd_explain)

    preview = sub.add_parser(
        "preview", help="write the page as the engine saw it, annotated, to open in a browser"
    )
    preview.add_argument("page", nargs="?", help="an HTML file, or - for stdin (or use --from)")
    preview.add_argument("--from", dest="source", metavar="URL", help="fetch the page from a live site")
    preview.add_argument(
        "--token", help=f"the site's debug token, to fetch the page without its units (or ${TOKEN_ENV})"
    )
    preview.add_argument("--rules", required=True, help="rules folder or file")
    preview.add_argument("--url", help="the page's URL path and query (default: those of --from, else /)")
    preview.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    preview.add_argument("--context", help="a JSON file of values for unit templates (`context`)")
    preview.add_argument("--csp", action="append", default=[], metavar="POLICY", help=CSP_HELP)
    preview.add_argument("--now", type=_now, metavar="WHEN", help=NOW_HELP)
    preview.add_argument("-o", "--output", default="-", help="where to write the page (default: stdout)")
    preview.set_defaults(func=cmd_preview)
    add_proxy_command(sub)
    return parser


def add_proxy_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`adinject proxy` (adinject/proxy/): its flags; aiohttp and uvicorn are imported only when it runs."""
    from adinject.proxy.server import add_command

    add_command(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
