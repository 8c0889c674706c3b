"""The command line: options, environment variables, and exit statuses (PRODUCT.md section 14).

Exit status: 0 when every job ended cancelled, alreadyTerminal or finishedBeforeCancel (or
there was nothing to judge), 2 when any timed out or failed, 1 for a usage or connection error,
whose message says what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from quantum_cancel import commands
from quantum_cancel.api import USAGE, AppClient, CliError, app_base
from quantum_cancel.output import Screen

APP_ENV = "QUANTUM_CANCEL_APP"
KEY_ENV = "QUANTUM_CANCEL_KEY"
WORKSPACE_ENV = "QUANTUM_CANCEL_WORKSPACE"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2, which this CLI keeps for "a job timed out or failed".
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(USAGE)


def _common() -> _Parser:
    # SUPPRESS: an option given before the command is not reset by the command's own parser.
    common = _Parser(add_help=False)
    common.add_argument("--app", default=argparse.SUPPRESS, help=f"the app's URL (env {APP_ENV})")
    common.add_argument(
        "--key", default=argparse.SUPPRESS, help=f"function key, never printed (env {KEY_ENV})"
    )
    common.add_argument(
        "--workspace",
        default=argparse.SUPPRESS,
        metavar="SUB/RG/WS",
        help=f"subscription id/resource group/workspace (env {WORKSPACE_ENV})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document and no progress",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """Every command and option."""
    common = _common()
    parser = _Parser(
        prog="quantum-cancel",
        parents=[common],
        description="Cancel running Azure Quantum jobs through the cancel-running-job app.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    job = sub.add_parser("job", parents=[common], help="cancel one job and follow it live")
    job.add_argument("job_id", metavar="JOB_ID")

    jobs = sub.add_parser(
        "jobs", parents=[common], help="cancel every job a selector names, after a dry run"
    )
    select = jobs.add_argument_group(
        "selector (filter fields combine; --ids and --session stand alone)"
    )
    select.add_argument("--target", nargs="+", action="extend", metavar="T", help="targets")
    select.add_argument("--provider", nargs="+", action="extend", metavar="P", help="providers")
    select.add_argument(
        "--status", nargs="+", action="extend", metavar="S", help="unfinished statuses"
    )
    select.add_argument("--name-prefix", metavar="X", help="job name prefix")
    select.add_argument("--ids", metavar="FILE", help="job ids, one per line ('-': stdin)")
    select.add_argument("--session", metavar="ID", help="the unfinished jobs of one session")
    jobs.add_argument("--dry-run", action="store_true", help="list what matches, cancel nothing")
    jobs.add_argument("--max-jobs", type=int, metavar="N", help="cancel nothing if more match")
    jobs.add_argument("--yes", action="store_true", help="do not ask before cancelling")

    status = sub.add_parser("status", parents=[common], help="status of a run (or of a job's run)")
    status.add_argument(
        "id", metavar="ID", help="a run's instance id, or a job id with --workspace"
    )

    results = sub.add_parser("results", parents=[common], help="per-job results of a run")
    results.add_argument("id", metavar="ID")
    results.add_argument("--format", choices=("table", "json", "csv"), default="table")

    listing = sub.add_parser("list", parents=[common], help="the app's runs, newest first")
    listing.add_argument("--running", action="store_true", help="only runs not yet finished")
    listing.add_argument("--top", type=int, default=20, help="at most this many (1-100)")

    guardrails = sub.add_parser("guardrails", parents=[common], help="the guardrail policy")
    what = guardrails.add_subparsers(dest="guardrails_command", required=True, parser_class=_Parser)
    what.add_parser("show", parents=[common], help="the policy as loaded and the last sweep")
    check = what.add_parser(
        "check", parents=[common], help="check a policy file offline, with the app's own rules"
    )
    check.add_argument("file", metavar="FILE", help="the policy's JSON file")
    sweep = what.add_parser("sweep", parents=[common], help="run a sweep now")
    sweep.add_argument("--dry-run", action="store_true", help="evaluate and report, act on nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    screen = Screen(as_json=getattr(args, "json", False))
    if args.command == "guardrails" and args.guardrails_command == "check":
        # Offline: no app, no key, nothing sent.
        return commands.check_guardrails(screen, args.file)
    try:
        client = AppClient(
            app_base(getattr(args, "app", None) or os.environ.get(APP_ENV)),
            getattr(args, "key", None) or os.environ.get(KEY_ENV),
        )
        workspace = getattr(args, "workspace", None) or os.environ.get(WORKSPACE_ENV)
        return commands.run(args, client, screen, workspace)
    except CliError as error:
        screen.errors.print(f"quantum-cancel: {error.message}", markup=False, soft_wrap=True)
        if screen.as_json:
            # Scripts get a document on stdout even when the command could not run.
            screen.json({"error": error.message, "exitStatus": error.status})
        return error.status
    except KeyboardInterrupt:
        screen.errors.print(
            "quantum-cancel: stopped following; the run goes on in the app "
            "(quantum-cancel list --running)",
            markup=False,
        )
        return USAGE
