"""The `skillgap` command. Each part registers its own subcommands (a module with
`register(commands)`); handlers take (args, settings) and return the exit status.

Only the module of the command being run is imported (`skillgap --help` and `skillgap fit` load
no web framework, Redis client or LMS code): COMMANDS names each command's module and help line,
and a test checks them against what the modules register."""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys

from core.errors import UserError

DESCRIPTION = "SkillGap: adaptive LLM-skills training for your LMS."
EPILOG = "Every command has its own help with an example: skillgap COMMAND --help"

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("skillgap.commands.run", "run the whole pipeline on the embedded default (make run)"),
    "catalog": ("skillgap.commands.catalog", "work with the training catalog"),
    "token": ("skillgap.commands.tokens", "manage analyst API tokens"),
    "tenants": ("skillgap.commands.tenants", "tenants with their registrations, credentials, tokens and learners"),
    "fit": ("skillgap.commands.fit", "fit mastery-model parameters to pyBKT-format history or to the event log"),
    "predict": ("skillgap.commands.fit", "P(correct) of each row before it is seen, with fitted parameters"),
    "sidecar": ("skillgap.commands.sidecar", "run the analyst API, the stream workers and the Moodle sync"),
    "worker": ("skillgap.commands.sidecar", "run a stream worker only (start several to scale out)"),
    "replay": (
        "skillgap.commands.sidecar",
        "rebuild all mastery and recommendations from the latest snapshots and the log after them",
    ),
    "export-events": ("skillgap.commands.sidecar", "write the retained log as gzip'd newline-delimited JSON"),
    "import-events": ("skillgap.commands.sidecar", "append events from a .csv or an export (.ndjson[.gz])"),
    "import-people": ("skillgap.commands.sidecar", "people from HR: role, department, manager, start date (.csv)"),
    "params": ("skillgap.commands.sidecar", "model parameter versions"),
    "keys": ("skillgap.commands.lti", "the LTI tool's signing keys"),
    "platform": ("skillgap.commands.lti", "LMS platforms registered with the LTI tool"),
    "ags": ("skillgap.commands.lti", "grades posted to the LMS (AGS)"),
    "xapi-credentials": ("skillgap.commands.xapi", "manage the xAPI credentials an LMS sends statements with"),
    "xapi": ("skillgap.commands.xapi", "check the xAPI intake"),
    "moodle": ("skillgap.commands.moodle", "pull grades and completion from Moodle's web services"),
    "forget-learner": ("skillgap.commands.forget", "erase every trace of one learner (right to erasure)"),
    "overdue": ("skillgap.commands.overdue", "who is overdue or due soon on a mandatory module"),
    "plan": (
        "skillgap.commands.plan",
        "training minutes, weeks and cost by method to each role's target: adaptive against course order",
    ),
}


# Shown at the end of each command's --help.
EXAMPLES: dict[str, str] = {
    "run": "skillgap run                      # then open the first link it prints",
    "catalog": "skillgap catalog check config/catalog\n"
    "skillgap catalog import-moodle --url https://moodle.example.com --token T --course 7",
    "token": "skillgap token create --tenant acme --name dashboards\nskillgap token list\nskillgap token revoke 3f2a9c81d0e4",
    "tenants": "skillgap tenants",
    "fit": "skillgap fit --csv docs/sample-history.csv --forgets --multilearn template_id --out params.json\n"
    "skillgap fit --from-log --forgets --activate",
    "predict": "skillgap predict --csv docs/sample-history.csv --params params.json --out predictions.csv\n"
    "skillgap predict --csv new.csv --params params.json --out p.csv --unknown-skills default",
    "sidecar": "skillgap sidecar --workers 2",
    "worker": "skillgap worker --name worker-2",
    "replay": "skillgap replay --check           # exit 1 if a rebuild would change anything",
    "export-events": "skillgap export-events --tenant acme --out acme-events.ndjson.gz",
    "import-events": "skillgap import-events --tenant acme history.csv",
    "import-people": "skillgap import-people --tenant acme hr-people.csv   # person,role,department,manager,start_date",
    "params": "skillgap params list\nskillgap params activate 3",
    "keys": "skillgap keys rotate\nskillgap keys list",
    "platform": "skillgap platform invite --tenant acme --expires 7d\n"
    "skillgap platform list\n"
    "skillgap platform add --issuer https://moodle.example.com --client-id ID --auth-url URL "
    "--token-url URL --jwks-url URL --deployment 1 --tenant acme",
    "ags": "skillgap ags push --loop",
    "xapi-credentials": "skillgap xapi-credentials create --tenant acme --platform moodle "
    "--issuer https://moodle.example.com",
    "xapi": "skillgap xapi status --tenant acme",
    "moodle": "skillgap moodle sync --url https://moodle.example.com --token T --course 7 --every",
    "forget-learner": "skillgap forget-learner --tenant acme --lms-user https://moodle.example.com 42",
    "overdue": "skillgap overdue --tenant acme --role risk-analyst --within-days 14\n"
    "skillgap overdue --tenant acme --cohort course-101 --csv > overdue.csv",
    "plan": "skillgap plan --tenant acme --role risk-analyst --minutes-per-week 240\n"
    "skillgap plan --tenant acme --cohort course-101 --format csv --by learner > plan.csv",
}


def _parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="skillgap", description=DESCRIPTION, epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return parser, commands


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """With `command`: the parser that knows that command fully (its module imported); without:
    every command's name and help line, importing none of them."""
    parser, commands = _parser()
    if command in COMMANDS:
        importlib.import_module(COMMANDS[command][0]).register(commands)
        for name, sub in commands.choices.items():
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            sub.epilog = "example:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name].splitlines())
    else:
        for name, (_, help_line) in COMMANDS.items():
            commands.add_parser(name, help=help_line)
    return parser


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    # Imported once the arguments parse: `--help` and argument errors need neither.
    import logging

    from core.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.handler(args, Settings.load())
    except UserError as exc:
        print(f"skillgap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# One-shot commands, run as short processes: numpy's OpenBLAS starts a thread per core when
# numpy is imported, and these use no BLAS; they build large object graphs (Numba's types,
# when its kernels load), so they run without collections; and they end without the
# interpreter's finalization (freeing every module and object one by one, 20-40 ms), once the
# atexit handlers have run and the standard streams are flushed: their files are closed by then.
ONE_SHOT = frozenset({"fit", "predict"})


def import_numba_lean() -> None:
    """Import Numba without the two optional packages its import looks at: scipy, imported only
    to check its version, and yaml, only to read a .numba_config.yaml in the current directory
    (hidden only when there is none). 20-25 ms of CPU a short process spends for nothing; both
    import normally afterwards. tests/test_cli_startup.py checks that Numba still imports so."""
    if "numba" in sys.modules:
        return
    optional = ("scipy",) if os.path.exists(".numba_config.yaml") else ("scipy", "yaml")
    hidden = [name for name in optional if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # importing it raises ImportError
    try:
        import numba  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


def run() -> None:
    """The `skillgap` command (main() is what tests call in-process)."""
    one_shot = _command(sys.argv[1:]) in ONE_SHOT
    if one_shot:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        gc.disable()
        import_numba_lean()
    status = main()
    if one_shot:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
