"""The Jinja2 environment unit templates are compiled and rendered with.

It belongs to the rule language: the loader compiles every unit's template with it (a template that does
not compile is a problem in the rule file), and the engine renders those same compiled templates.

Choices, and why:

* Sandboxed, and immutable (`ImmutableSandboxedEnvironment`): rule files are written by ad ops, not by the
  engineers who run the server, so a template must not reach Python internals; and the objects a template
  sees (`page.meta`, `context`) may be shared between requests, so a template must not modify them either.
* `autoescape=True`: page titles, meta values and context come from the page and the request; they are text
  and must never become markup inside a unit.
* `ChainableUndefined` rather than `StrictUndefined`: a template is rendered on every page, inside the
  middleware. `{{ context.related[0].title }}` when a page has no `related` context should render empty (and
  `{% if %}` on it should be false), not raise and lose the unit or the page. The price is that a misspelt
  variable also renders empty; `adinject explain` and `adinject render` show the rendered unit, which is where
  that shows up.
* `trim_blocks` and `lstrip_blocks`: `{% if %}` lines in a YAML block scalar then leave no blank lines and
  stray indentation behind in the page.
* Budgets (`budget.py`), through the sandbox's own hooks: `**`, `*`, `+` and `%` are intercepted
  (`intercepted_binops`, which also keeps Jinja from folding them while it compiles), as are calls
  (`call`, which also sees the sandbox's `str.format`), every filter, `range` and `lipsum`; `finalize`
  weighs every printed value; and the code generator adds a step at the top of every loop body and
  macro, and weighs every `~`, list, tuple and mapping the template builds.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum, pass_context
from markupsafe import Markup

from adinject.language import budget

_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def words(value: object, n: int, end: str = "…") -> str:
    """The first `n` words of `value` (markup stripped to text), followed by `end` when anything was cut.

    Whitespace between the kept words is normalised to single spaces.
    """
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    text = value.striptags() if isinstance(value, Markup) else str(value)
    parts = text.split()
    if n < 0:
        n = 0
    if len(parts) <= n:
        return " ".join(parts)
    return " ".join(parts[:n]) + end


def slug(value: object) -> str:
    """`value` as lowercase ASCII letters, digits and hyphens: safe in an id, a class or an ad unit path."""
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    return _SLUG_UNSAFE.sub("-", str(value).lower()).strip("-")


STEP_FILTER = "adinject_step"


@pass_context
def _step(context: Context, value: object, chars: int) -> str:
    """One step, and the template text of a loop body or macro once more (the code generator's hook)."""
    budget.step(1, chars)
    return ""


def _literal_chars(body: list[nodes.Node]) -> int:
    return sum(len(data.data) for node in body for data in node.find_all(nodes.TemplateData))


def _step_node(body: list[nodes.Node], lineno: int, env: jinja2.Environment) -> nodes.ExprStmt:
    call = nodes.Filter(nodes.Const(None), STEP_FILTER, [nodes.Const(_literal_chars(body))], [], None, None)
    node = nodes.ExprStmt(call)
    node.set_lineno(lineno)
    node.set_environment(env)
    return node


class BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator with the budget's hooks in the compiled code."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in list(node.find_all((nodes.For, nodes.Macro, nodes.CallBlock))):
            assert isinstance(loop, nodes.For | nodes.Macro | nodes.CallBlock)
            loop.body.insert(0, _step_node(loop.body, loop.lineno, self.environment))
        super().visit_Template(node, frame)

    def _made(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        self.write("environment.adinject_made(")
        visit(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self._made(super().visit_Concat, node, frame)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._made(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._made(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":
            self._made(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


class UnitEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with budgets: see `adinject.language.budget`."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})
    code_generator_class = BudgetedCodeGenerator

    @staticmethod
    def adinject_made(value: Any) -> Any:
        return budget.made(value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget.check_binop(operator, left, right)
        return budget.made(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget.step()
        budget.check_method(__obj, args, kwargs)
        return budget.made(super().call(__context, __obj, *args, **kwargs))


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` printed: within the per-value limits, and counted as made."""
    return budget.made(value)


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(func)
    prechecked = name in {"center", "indent", "replace", "format", "batch", "slice", "join"}
    # The filtered value comes after the context, eval context or environment when Jinja passes one.
    at = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)  # keeps Jinja's pass_context / pass_environment marks
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > at:
            budget.read(budget.weight(args[at], budget.MAX_WORK))  # a filter reads what it filters
        if prechecked:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                pass  # the filter raises the error itself
            else:
                value = bound.arguments.get("value")
                if name == "join" and isinstance(value, Iterator):
                    # A generator (`range(n) | map(...)`) is measured as the list it is about to be.
                    bound.arguments["value"] = list(value)
                    args, kwargs = bound.args, bound.kwargs
                budget.check_filter(name, bound.arguments)
        result = func(*args, **kwargs)
        if isinstance(result, Iterator) and not isinstance(result, str):
            return result
        return budget.made(result)

    return wrapper


def _range(*args: int) -> range:
    rng = range(*args)
    try:
        length = len(rng)
    except OverflowError:  # more items than a machine word counts
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise budget.BudgetExceeded(f"a range of {length:,} items is too long")
    budget.check_range(length)
    return rng


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    budget.check_lipsum(n, html, min, max)
    return budget.made(generate_lorem_ipsum(n, html, min, max))  # type: ignore[no-any-return]


def make_environment() -> SandboxedEnvironment:
    """A new environment configured for unit templates (see the module docstring for why each setting)."""
    env = UnitEnvironment(
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters["words"] = words
    env.filters["slug"] = slug
    for name, func in list(env.filters.items()):
        env.filters[name] = _budgeted_filter(name, func)
    env.filters[STEP_FILTER] = _step
    env.globals["range"] = _range
    env.globals["lipsum"] = _lipsum
    return env


@functools.cache
def environment() -> SandboxedEnvironment:
    """The one environment the whole process shares, so compiled templates share its caches."""
    return make_environment()


def render_budgeted(template: Template, variables: Mapping[str, Any], meter: budget.Meter) -> str:
    """`template` rendered with `variables` under `meter`, its output capped at `budget.MAX_UNIT_BYTES`."""
    # Template.render adds a traceback-rewriting wrapper around the same compiled function; callers catch
    # every exception themselves, so call it directly (a few microseconds per unit on a hot path).
    parts: list[str] = []
    size = 0
    try:
        with budget.metered(meter):
            generator = template.root_render_func(template.new_context(dict(variables)))
            for part in generator:
                size += len(part)
                if size > budget.MAX_UNIT_BYTES:
                    frame = getattr(generator, "gi_frame", None)
                    line = template.get_corresponding_lineno(frame.f_lineno) if frame is not None else None
                    message = f"the unit's markup is over {budget.MAX_UNIT_BYTES:,} bytes"
                    raise budget.BudgetExceeded(message, line)
                parts.append(part)
    except budget.OutOfTime:
        raise
    except Exception as exc:
        # However the render ended, a unit past the deadline is out of time: it is switched off, not paid
        # for again on every page only to fail the same way.
        if meter.over_time():
            raise budget.OutOfTime(
                f"{exc} (and the page's units took more than the backstop's time)"
            ) from exc
        raise
    meter.check_time()
    return "".join(parts)
