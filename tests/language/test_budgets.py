"""Unit-template budgets at load: what would go over a budget on every page is a problem at its line, found
fast (nothing refused is ever worked out, not even by Jinja folding constants while it compiles)."""

from __future__ import annotations

import time
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment

from adinject.language import budget
from adinject.language.loader import load_rule_set
from adinject.language.templates import environment, render_budgeted
from tests._support.language import problems_of, write

HOSTILE = [
    "{{ 9 ** 8000000 }}",
    '{{ "x" * 2000000000 }}',
    "{{ lipsum(100000) }}",
    "{% for i in range(100000) %}{% for j in range(2000) %}x{% endfor %}{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(2000) %}x{% endfor %}{% endfor %}",
    "{{ (slot.number + 8) ** 20000000 }}",
    '{{ "x" | center(2000000000) }}',
    '{{ "%0999999999d" | format(1) }}',
    '{{ "%0999999999d" % 1 }}',
    '{{ "{:>999999999}".format(1) }}',
    '{{ "x".ljust(2000000000) }}',
    '{{ "abc" | replace("", "yyyyyyyyyy" * 6000) }}',
    '{{ [1] | batch(1000000000, "x") | list }}',
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
    '{% set a = "x" * 60000 %}{% set b = [a, a, a, a] %}{{ b | length }}',
    '{% set ns = namespace(s="xx") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
    '{% for i in range(5000) %}{{ "abcdefghij" * 1000 }}{% endfor %}',
    '{{ range(4000) | map("string") | join("x" * 60000) }}',
    "{% for i in range(10 ** 30) %}x{% endfor %}",
]


def unit_file(template: str) -> str:
    # The hostile line is line 3 of the template, line 6 of the file, indented 6 columns.
    return (
        "units:\n"
        "  ad:\n"
        "    html: |\n"
        '      <div class="ad">\n'
        "        <p>Advertisement</p>\n"
        f"      {template}\n"
        "      </div>\n"
    )


@pytest.mark.parametrize("template", HOSTILE)
def test_a_hostile_template_is_refused_fast_at_its_line(tmp_path: Path, template: str) -> None:
    path = write(tmp_path, "r.yaml", unit_file(template))
    started = time.perf_counter()
    (problem,) = problems_of(path)
    assert time.perf_counter() - started < 1.0
    assert (problem.line, problem.col, problem.key) == (6, 7, "units.ad.html")
    assert "budget" in problem.message
    assert problem.is_error


def test_jinja_does_not_fold_a_huge_constant_while_compiling() -> None:
    started = time.perf_counter()
    environment().from_string("{{ 9 ** 8000000 }}{{ 'x' * 2000000000 }}{{ 'x' | center(2000000000) }}")
    assert time.perf_counter() - started < 0.5


def test_a_budget_that_depends_on_the_context_is_left_to_rendering(tmp_path: Path) -> None:
    text = unit_file('{% if context.n %}{{ "x" * context.n }}{% endif %}')
    rules = load_rule_set(write(tmp_path, "r.yaml", text))
    assert "ad" in rules.units


OK_TEMPLATES = [
    ("{% for i in range(3) %}<p>{{ i }}</p>{% endfor %}", "<p>0</p><p>1</p><p>2</p>"),
    ('{{ "a,b" | replace(",", "-") }} {{ [1, 2] | join(",") }}', "a-b 1,2"),
    (
        '{{ "%5d" | format(3) }}|{{ "{:>4}".format(7) }}|{{ "ab" * 3 }}|{{ 2 ** 100 }}',
        f"    3|   7|ababab|{2**100}",
    ),
    ("{{ lipsum(1, false, 3, 4) | wordcount > 0 }}", "True"),
    ('{% for a, b in [(1, 2)] %}{{ a + b }}{% endfor %}{{ ("x", "y") | join }}', "3xy"),
    ('{{ range(3) | map("string") | join("-") }}', "0-1-2"),
]


@pytest.mark.parametrize(("template", "expected"), OK_TEMPLATES)
def test_ordinary_templates_render_as_before(template: str, expected: str) -> None:
    out = render_budgeted(environment().from_string(template), {}, budget.Meter())
    assert out == expected


def test_the_budgets_count_steps_and_work() -> None:
    meter = budget.Meter()
    render_budgeted(environment().from_string("{% for i in range(10) %}ab{% endfor %}"), {}, meter)
    assert 20 <= meter.steps <= 30  # ten items of the range, ten iterations, a call or two
    assert meter.work >= 20  # the loop body's text, once per iteration


def test_the_output_cap_stops_a_unit_as_it_renders() -> None:
    template = environment().from_string("{% for i in range(700) %}{{ s }}{% endfor %}")
    with pytest.raises(budget.BudgetExceeded, match="markup is over 65,536 bytes"):
        render_budgeted(template, {"s": "x" * 100}, budget.Meter())


def test_weighing_a_value_shared_many_times_stops_at_the_limit() -> None:
    inner = ["x" * 1000] * 60
    shared = [inner] * 1000  # 60 million characters if written out
    started = time.perf_counter()
    assert budget.weight(shared) > budget.MAX_VALUE
    assert time.perf_counter() - started < 0.1


def test_the_clock_backstop_raises_out_of_time() -> None:
    ticks = iter(range(0, 10**6))
    meter = budget.Meter(deadline=5, clock=lambda: next(ticks))
    template = environment().from_string("{% for i in range(2000) %}x{% endfor %}")
    with pytest.raises(budget.OutOfTime):
        render_budgeted(template, {}, meter)


@pytest.mark.parametrize(
    "template",
    [
        "{{ nothing() }}",  # an error
        '{% set a = "x" * 60000 %}{% for i in range(40) %}{{ a ~ "" }}{% endfor %}',  # over the work budget
    ],
)
def test_a_render_past_the_deadline_is_out_of_time_however_it_ends(template: str) -> None:
    # Switched off rather than paid for again on every page only to end the same way.
    meter = budget.Meter(deadline=5, clock=lambda: 10.0)
    with pytest.raises(budget.OutOfTime):
        render_budgeted(environment().from_string(template), {}, meter)


def test_a_large_value_makes_the_meter_look_at_the_clock() -> None:
    looks: list[int] = []

    def clock() -> float:
        looks.append(1)
        return 0.0

    meter = budget.Meter(deadline=5, clock=clock)
    render_budgeted(environment().from_string('{{ "x" * 5000 }}{{ "y" * 10 }}'), {}, meter)
    assert len(looks) == 3  # the 5,000 characters made and printed, and the end of the render; not the 10


@pytest.mark.parametrize(
    "template",
    [
        # Work that makes little but reads a lot: counted, so it ends the same on a fast or a busy server.
        '{% set s = "a" * 60000 %}{% for i in range(2400) %}{{ s | wordcount }}{% endfor %}',
        '{% set s = "ab" * 30000 %}{% for i in range(2400) %}{{ s.count("b") }}{% endfor %}',
        "{% macro m() %}{% for i in range(2400) %}{{ 2 ** 14000 }}{% endfor %}{% endmacro %}{{ m() | length }}",
    ],
)
def test_reading_and_printing_count_as_work(template: str) -> None:
    with pytest.raises(budget.BudgetExceeded, match="1,000,000 characters"):
        render_budgeted(environment().from_string(template), {}, budget.Meter())


# --- the budgets change nothing for templates within them

_PIECES = [
    "<p>{{ slot.number }}</p>",
    "{{ slot.number * 3 + 2 }}",
    "{{ 2 ** slot.number }}",
    '{{ "ab" * slot.number }}',
    '{{ "%03d" % slot.number }}',
    '{{ "{:>4}|{}".format(slot.number, "x") }}',
    "{{ [1, 2, slot.number] | join(',') }}",
    "{{ (1, 'b') | list | length }}",
    "{{ {'a': slot.number}.a }}",
    "{{ page.title ~ '!' ~ slot.number }}",
    "{{ page.title | upper | replace('T', 't') | center(9) }}",
    "{{ page.title | indent(2) }}{{ page.title | truncate(3) }}",
    "{{ range(slot.number) | map('string') | join('-') }}",
    "{{ range(7) | batch(3) | list }}{{ range(7) | slice(2) | list }}",
    "{% for i in range(slot.number) %}[{{ loop.index }}{{ loop.cycle('a', 'b') }}]{% endfor %}",
    "{% for k, v in {'x': 1, 'y': 2} | dictsort %}{{ k }}={{ v }};{% else %}none{% endfor %}",
    "{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}{{ m(slot.number) }}{{ m('<i>') }}",
    "{% call m2() %}inner{% endcall %}",
    "{% set ns = namespace(t=0) %}{% for i in range(4) %}{% set ns.t = ns.t + i %}{% endfor %}{{ ns.t }}",
    "{% if slot.number > 2 %}big{% elif slot.number %}small{% else %}zero{% endif %}",
    "{% filter upper %}shout {{ slot.number }}{% endfilter %}",
    "{% set block %}x{{ slot.number }}y{% endset %}{{ block }}",
    "{{ '<script>' }}{{ context.missing.deeper }}",
]
_MACRO = "{% macro m2() %}<u>{{ caller() }}</u>{% endmacro %}"


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8), number=st.integers(0, 6))
def test_templates_within_budget_render_exactly_as_jinja_does(pieces: list[str], number: int) -> None:
    source = _MACRO + "".join(pieces)
    variables = {"slot": {"number": number}, "page": {"title": "The <Title>"}, "context": {}}
    plain = ImmutableSandboxedEnvironment(
        autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True
    )
    expected = plain.from_string(source).render(variables)
    got = render_budgeted(environment().from_string(source), variables, budget.Meter())
    assert got == expected
