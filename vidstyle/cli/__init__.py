"""The ``vidstyle`` command line.

Each command lives in its own module and adds itself with ``register(app)``.
User errors (:class:`vidstyle.errors.VidstyleError`, :class:`flow.errors.FlowError`)
become one red line on stderr and exit code 2; a Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys

import typer

from vidstyle.cli.common import USER_ERRORS, console

app = typer.Typer(
    name="vidstyle",
    help="Neural style transfer for videos and still images, temporally consistent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from vidstyle.cli import image_cmds

    image_cmds.register(app)
    for name in ("flow_cmd", "video_cmd", "sweep_cmd"):
        try:
            module = __import__(f"vidstyle.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:  # command module not written yet
            if exc.name != f"vidstyle.cli.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=True)
    except USER_ERRORS as exc:  # pragma: no cover - commands catch these themselves
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
