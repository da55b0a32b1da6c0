"""The desktop entry's command line, as the launcher runs it."""


def test_the_launcher_command_line_is_one_the_app_accepts(tmp_path):
    import shlex

    from conftest import REPO

    from emobrowser.cli import build_parser

    entry = (REPO / "packaging" / "io.github.emobrowser.Emobrowser.desktop").read_text(encoding="utf-8")
    exec_line = next(line.split("=", 1)[1] for line in entry.splitlines() if line.startswith("Exec="))
    argv = shlex.split(exec_line)
    assert argv[0] == "emobrowser"
    for dropped in ([], [str(tmp_path / "a"), str(tmp_path / "b c")]):  # %F: zero or more paths
        args = build_parser().parse_args([a for arg in argv[1:] for a in (dropped if arg == "%F" else [arg])])
        assert args.command is None and args.add == dropped  # the desktop app, adding what was dropped
