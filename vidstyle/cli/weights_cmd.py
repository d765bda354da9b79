"""``vidstyle weights``: the VGG-19 weight sources, which are here, where, how big, under what licence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from vidstyle import defaults
from vidstyle.cli.common import USER_ERRORS, fail


def register(app: typer.Typer) -> None:
    @app.command("weights")
    def weights_cmd(
        check: Annotated[Optional[Path], typer.Option(
            "--weights", envvar="VIDSTYLE_WEIGHTS",
            help="Also check a local VGG-19 file: which layers it covers.")] = None,
    ) -> None:
        """List the VGG-19 weight sources (--model): present or not, where, size, licence."""
        # torch is needed to read the files; imported once the command line has been parsed.
        from vidstyle import weights as w

        out = Console(highlight=False)
        table = Table(title="VGG-19 weight sources (--model)", show_lines=False)
        for column in ("model", "present", "input convention", "where", "size", "licence"):
            table.add_column(column, overflow="fold")
        try:
            sources = w.registry()
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None
        for source in sources:
            st = w.source_status(source)
            name = source.name + (" (default)" if source.name == defaults.MODEL else "")
            if st.present:
                present = "yes"
            elif st.problem:
                present = f"[red]no[/]: {st.problem}"
            else:
                present = "no (downloads on first use)"
            where = str(st.path) if st.path else "-"
            if source.origin == "bundled":
                where += f"\n(package {source.package} {source.package_versions}, 8-bit k-means)"
            size = f"{st.size / 2**20:.1f} MiB" if st.size else "-"
            table.add_row(name, present, source.convention, where, size, source.licence)
        out.print(table)
        if check is not None:
            try:
                state = w.load_state_dict(check)
                deepest = w.covered_layers(state, origin=str(check))
            except USER_ERRORS as exc:
                raise fail(str(exc)) from None
            depth = "full depth" if deepest == w.LAYER_NAMES[-1] else "partial: serves layers up to " + deepest
            out.print(f"{check}: VGG-19 conv1_1 .. {deepest} ({depth}); "
                      f"read in the convention of --model (default {defaults.MODEL}: "
                      f"{defaults.MODEL_CONVENTIONS[defaults.MODEL]})")
