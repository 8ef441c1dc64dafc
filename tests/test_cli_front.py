"""The CLI front: its table of subcommands is true, and one subcommand's parser imports only that feature."""
import subprocess
import sys

from zsner.cli import COMMANDS, build_parser


def _choices(parser):
    return set(parser._subparsers._group_actions[0].choices)


def test_the_table_names_exactly_the_subcommands_the_modules_define():
    assert _choices(build_parser()) == set(COMMANDS)


def test_one_command_builds_its_module_only():
    for command, module in COMMANDS.items():
        choices = _choices(build_parser(command))
        assert command in choices
        siblings = {name for name, other in COMMANDS.items() if other == module and module}
        assert choices == {"data"} | siblings | {command}


def test_tag_parser_does_not_import_scoring_or_other_features():
    heavy = ["seqeval", "sklearn", "scipy", "transformers", "zsner.transfer", "zsner.mapping", "zsner.grid",
             "ray", "fastapi"]
    code = ("import sys; from zsner.cli import build_parser; build_parser('tag').parse_args(['tag', 'M']); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
