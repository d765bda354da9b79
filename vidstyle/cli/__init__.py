"""The ``vidstyle`` command line.

Each command lives in its own module and adds itself with ``register(app)``.
User errors (:class:`vidstyle.errors.VidstyleError`, :class:`flow.errors.FlowError`)
become one red line on stderr and exit code 2; a Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from vidstyle.cli.common import USER_ERRORS, console
from vidstyle.cli.options import user_message

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
    for name in ("flow_cmd", "video_cmd", "sweep_cmd", "weights_cmd"):
        try:
            module = __import__(f"vidstyle.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:  # command module not written yet
            if exc.name != f"vidstyle.cli.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point: every refusal is one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except USER_ERRORS as exc:  # pragma: no cover - commands catch these themselves
        console.print(f"[bold red]error:[/] {escape(user_message(exc))}", soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - click's usage errors (typer vendors click; no public class)
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            raise
        show = getattr(exc, "show", None)  # duck-typed like the rest: the class is private to typer
        if type(exc).__name__ == "NoArgsIsHelpError" and show is not None:
            show()  # plain `vidstyle` or `vidstyle video`: the help, as before
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        console.print(f"[bold red]error:[/] {escape(message + hint)}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
