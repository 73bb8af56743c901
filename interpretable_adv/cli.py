"""The ``iadv`` command: one subcommand per stage of the pipeline.

Every user error (a bad flag value, an unusable file or output path) ends in
one line on stderr, ``iadv COMMAND: error: MESSAGE``, and exit status 2,
before any work is done; see :mod:`interpretable_adv.errors`.
"""

import argparse
import errno
import re
import sys

from interpretable_adv.errors import TrainingDiverged, UsageError
from interpretable_adv.files import user_path


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``PROG: error: MESSAGE (see PROG --help)``), exit 2."""

    def error(self, message):
        self.exit(report("%s: error: %s (see %s --help)" % (self.prog, message, self.prog), 2))


# Subcommand -> module in interpretable_adv.commands, in pipeline order. Each module has HELP,
# add_arguments(parser) and run(args) -> exit status; its docstring's first line is the description.
COMMANDS = (
    ("prepare", "prepare"),
    ("pretrain", "pretrain"),
    ("train", "train"),
    ("tune", "tune"),
    ("evaluate", "evaluate"),
    ("summarize", "summarize"),
    ("attack", "attack"),
    ("interpret", "interpret"),
    ("report", "report"),
    ("bench", "bench"),
    ("compare-upstream", "compare_upstream"),
    ("import-upstream-lm", "import_upstream_lm"),
    ("synthetic", "synthetic"),
    ("methods", "method_list"),
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each flag's default after its help (unless the help already names it, or there is none to show)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or any(action.default is value for value in (None, False, True, argparse.SUPPRESS)):
            return text
        return super()._get_help_string(action)


def build_parser():
    """The ``iadv`` parser with every subcommand of :data:`COMMANDS` registered."""
    import importlib

    from interpretable_adv import __version__

    parser = OneLineParser(prog="iadv", formatter_class=HelpFormatter,
                           description="Interpretable adversarial training for text (AdvT, iAdvT, SPGD) in Chainer.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.subcommands = {}
    for name, module_name in COMMANDS:
        module = importlib.import_module("interpretable_adv.commands." + module_name)
        command = sub.add_parser(name, help=module.HELP, description=plain_text(module.__doc__.strip().splitlines()[0]),
                                 formatter_class=HelpFormatter)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
        parser.subcommands[name] = command
    return parser


def parse_arguments(parser, argv):
    """``parser.parse_args``, but a flag the subcommand does not know is reported by the subcommand's parser
    (``iadv train: error: unrecognized arguments: --x (see iadv train --help)``), whose help lists its flags."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.subcommands[args.command].error("unrecognized arguments: %s" % " ".join(unknown))
    return args


# OS errors that are the user's environment, not a bug: reported in one line like a usage error.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                       errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE}


def main(argv=None):
    """Run one subcommand; returns its exit status (0 success, 2 user error, 1 training diverged)."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # log lines reach redirected files promptly
    args = parse_arguments(build_parser(), argv)
    prefix = "iadv %s: error: " % args.command
    try:
        return args.handler(args)
    except UsageError as exc:
        return report(prefix + one_line(exc), 2)
    except TrainingDiverged as exc:
        return report(prefix + one_line(exc), 1)
    except Exception as exc:
        cause = environment_error(exc)
        if cause is None:
            raise
        where = " (%s)" % user_path(cause.filename) if cause.filename else ""   # never our hidden temporary
        return report(prefix + "%s%s" % (cause.strerror or cause, where), 2)


# How long a rank other than 0 waits before it exits with an error (see report).
RANK_EXIT_DELAY_S = 5.0


def report(line, status):
    """Print an error line on stderr once per run; returns ``status``.

    Under ``mpiexec -n N`` only rank 0 prints it. Every rank checks the same
    inputs the same way, and what rank 0 alone does (locking, choosing the
    snapshot) it shares with the others
    (:meth:`~interpretable_adv.distributed.Distribution.on_writer`), so every
    rank fails alike and rank 0's line speaks for all. The other ranks wait a
    moment before exiting: ``mpiexec`` ends the whole job as soon as one rank
    exits with an error, which would otherwise often kill rank 0 before it
    printed (the job still ends at once, when rank 0 exits).
    """
    from interpretable_adv.distributed import launched_rank

    if launched_rank() == 0:
        print(line, file=sys.stderr)
    else:
        import time
        time.sleep(RANK_EXIT_DELAY_S)
    return status


def environment_error(exc):
    """The OSError of the user's environment (disk full, no permission...) behind ``exc``, or None.

    Follows the exception's context: a full disk during ``np.savez`` surfaces
    as ``ValueError: seek of closed file`` raised while handling the ENOSPC.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def plain_text(text):
    """A docstring line for the terminal: reStructuredText roles and double backquotes made plain."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "`")


def one_line(exc):
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
