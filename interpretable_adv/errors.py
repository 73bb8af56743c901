"""The exceptions the command line turns into one line on stderr and exit status 2.

Every problem with what the user gave (a flag, a preset, a file, an output
location) is raised as :class:`UsageError` with a single-line message that
names the flag or the file; ``iadv`` prints ``iadv COMMAND: error: MESSAGE``
and exits 2 before any work is done and without a traceback. Anything else
is a bug and keeps its traceback.
"""


class UsageError(ValueError):
    """Bad input from the user: a flag, a preset key, a file or an output path."""


class PrepareError(UsageError):
    """A problem with ``iadv prepare``'s input or output location; the message names the file."""


class UnsafeFile(UsageError):
    """A file that would need unpickling (an object array) to be read; it is refused, never loaded."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stops before the bad update is applied or saved."""
