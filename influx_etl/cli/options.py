"""Command-line options made from the config dataclasses, and ``--help`` in sections.

A config field declared with :func:`influx_etl.config.setting` carries its flag, help text, range
and ``--help`` section; :func:`setting_option` turns it into a click option with the field's own
default, so a default or a range is written once. :class:`GroupedCommand` lists a command's
options under their sections (Basics, Lookup, Filters, Plan and cost, Scale-out, MCP, Other).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Final

import click

from influx_etl import project
from influx_etl.config import Setting, settings_of

SECTIONS: Final = ("Basics", "Lookup", "Filters", "Plan and cost", "Scale-out", "MCP", "Other")
"""The sections of ``--help``, in order."""


class GroupedOption(click.Option):
    """A click option that knows its ``--help`` section."""

    def __init__(self, *args: Any, group: str = "Other", **kwargs: Any) -> None:
        if group not in SECTIONS:
            raise ValueError(f"unknown --help section {group!r}: expected one of {SECTIONS}")
        self.group = group
        super().__init__(*args, **kwargs)


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists options by section."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {name: [] for name in SECTIONS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections[getattr(param, "group", "Other")].append(record)
        for name in SECTIONS:
            if sections[name]:
                with formatter.section(f"{name} options"):
                    formatter.write_dl(sections[name])


def option(*decls: str, group: str = "Other", **kwargs: Any) -> Callable[[Any], Any]:
    """``click.option`` listed under ``group`` in ``--help``."""
    return click.option(*decls, cls=GroupedOption, group=group, **kwargs)


def _field_default(cls: type, name: str) -> Any:
    for each in fields(cls):
        if each.name == name:
            if each.default is not MISSING:
                return each.default
            if each.default_factory is not MISSING:
                return each.default_factory()
    raise KeyError(f"{cls.__name__} has no field {name!r} with a default")


def _range_type(annotation: str, spec: Setting) -> click.ParamType[Any] | None:
    base = annotation.split("|")[0].strip()
    low = None if spec.min is None else spec.min
    if base == "int":
        return click.IntRange(
            None if low is None else int(low),
            None if spec.max is None else int(spec.max),
            min_open=spec.min_open,
        )
    if base == "float":
        return click.FloatRange(low, spec.max, min_open=spec.min_open)
    if base == "Path":
        return click.Path(path_type=Path)
    return None


def setting_option(
    cls: type, name: str, *extra_decls: str, **overrides: Any
) -> Callable[[Any], Any]:
    """The option of config field ``cls.name``: its flag, help, range and section from its
    :class:`~influx_etl.config.Setting`, its default the field's (``overrides`` win, e.g. another
    default or a stricter ``click.Path``). The parameter is named after the field."""
    spec = settings_of(cls)[name]
    annotation = next(str(each.type) for each in fields(cls) if each.name == name)
    default = _field_default(cls, name)
    kwargs: dict[str, Any] = {
        "default": default,
        "show_default": default is not None,
        "help": spec.help,
        "metavar": spec.metavar,
    }
    param_type = _range_type(annotation, spec)
    if param_type is not None:
        kwargs["type"] = param_type
    kwargs.update(overrides)
    return option(spec.flag, *extra_decls, name, group=spec.group, **kwargs)


def project_file_option(
    default: project.DefaultFile, *decls: str, help: str, group: str, **overrides: Any
) -> Callable[[Any], Any]:
    """The option naming another file than a project default (``--brand-rules``...): no default
    of its own, ``--help`` saying which file is used when it is not given."""
    kwargs: dict[str, Any] = {
        "type": click.Path(path_type=Path),
        "default": None,
        "show_default": project.default_help(default),
        "help": help,
    }
    kwargs.update(overrides)
    return option(default.flag, *decls, group=group, **kwargs)


def without_options(*names: str) -> Callable[[click.Command], click.Command]:
    """Hide these shared options from a command that has no use for them, and refuse them on its
    command line (``--backend does nothing for x-lists``) rather than ignore them; put it above
    the command's decorator. ``names`` are the parameters' names (``batch_size``)."""

    def decorate(command: click.Command) -> click.Command:
        unknown = set(names) - {param.name for param in command.params}
        if unknown:
            raise ValueError(f"{command.name} has no option {', '.join(sorted(unknown))}")
        for param in command.params:
            if param.name in names and isinstance(param, click.Option):
                param.hidden = True
                param.callback = _refused(command.name or "this command", param.callback)
        return command

    return decorate


def _refused(
    command: str, callback: Callable[[click.Context, click.Parameter, Any], Any] | None
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        source = ctx.get_parameter_source(param.name or "")
        if source is click.core.ParameterSource.COMMANDLINE:
            flag = max(param.opts, key=len)
            raise click.UsageError(f"{flag} does nothing for `{command}`", ctx)
        return callback(ctx, param, value) if callback is not None else value

    return check
