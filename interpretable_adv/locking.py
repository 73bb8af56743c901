"""One writer per output: an exclusive lock on every run or output directory.

Every command that writes a run (``iadv pretrain``, ``iadv train``) or an
output directory (``iadv evaluate``, ``iadv summarize``, ``iadv prepare``,
``iadv compare-upstream``, ``iadv bench``, ``iadv synthetic``, the sweep
report) holds an :class:`OutputLock`
from before its first write until it is done. The lock is ``flock(LOCK_EX |
LOCK_NB)`` on a lock file: the operating system releases it when the holder
exits, however it exits (``kill -9`` included), so a lock is never stale: a
lock file left by a killed holder means nothing by itself (a finished holder
removes it). A second writer is refused at
once, in one line (:class:`OutputInUse`, exit 2), naming the holder's PID,
command line and start time, and writes nothing: it only opens the lock file
the holder made.

Where the lock file lives: ``DIR/.iadv-lock`` for a directory that is written
into, and ``PARENT/.NAME.iadv-lock`` beside a directory that is replaced as a
whole by a rename (``iadv prepare``'s output), so that the lock does not move
away with the old directory.
"""

import contextlib
import datetime
import errno
import json
import os
import socket
import sys

from interpretable_adv.errors import UsageError

LOCK_NAME = ".iadv-lock"


class OutputInUse(UsageError):
    """Another process holds the lock of the output this command would write."""


def lock_file_of(directory, beside=False):
    """The lock file of ``directory``: inside it, or (``beside``) next to it in its parent."""
    directory = os.path.abspath(directory)
    if beside:
        return os.path.join(os.path.dirname(directory), "." + os.path.basename(directory) + LOCK_NAME)
    return os.path.join(directory, LOCK_NAME)


class OutputLock:
    """An exclusive, non-blocking lock on an output directory (see the module docstring).

    ``flag`` names the output in messages (``--out runs/small/seed0/spgd``).
    Use as a context manager, or :meth:`acquire` / :meth:`release`.
    Acquiring creates the directory (or, ``beside``, its parent) if needed.
    """

    def __init__(self, directory, flag="--out", beside=False):
        self.directory = directory
        self.flag = flag
        self.path = lock_file_of(directory, beside)
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def acquire(self):
        import fcntl

        if self.held:
            return self
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputInUse("%s %s: in use by %s; two writers would mix or overwrite each other's "
                                      "results. Wait for it to finish, or choose another %s"
                                      % (self.flag, self.directory, describe_holder(holder), self.flag)) from None
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)   # a holder released and removed it after we opened it: take the lock anew
        self._fd = fd
        _write_holder(fd)
        return self

    def _open(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            where = exc.filename if exc.filename and os.path.abspath(exc.filename) != self.path else None
            raise UsageError("%s %s: cannot write the output directory (%s%s)"
                             % (self.flag, self.directory, exc.strerror or exc,
                                ": %s" % where if where else "")) from None

    def release(self):
        """Remove the lock file (while still holding it, so no one can have locked it meanwhile), then unlock."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        if _same_file(fd, self.path):
            with contextlib.suppress(OSError):
                os.remove(self.path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False


def holder_record():
    """What a lock file says of its holder: PID, host, command line, start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "argv": list(sys.argv),
            "time": datetime.datetime.now().isoformat(timespec="seconds")}


def describe_holder(holder):
    """``PID 123 on HOST (iadv train --method spgd ...), since TIME`` from a holder record (or a fallback)."""
    if not isinstance(holder, dict) or "pid" not in holder:
        return "another process (it has not yet written its PID)"
    argv = holder.get("argv") or []
    command = " ".join([os.path.basename(str(argv[0]))] + [str(a) for a in argv[1:]]) if argv else "?"
    if len(command) > 160:
        command = command[:157] + "..."
    return "PID %s on %s (%s), since %s" % (holder["pid"], holder.get("host", "?"), command, holder.get("time", "?"))


def _same_file(fd, path):
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _write_holder(fd):
    payload = (json.dumps(holder_record()) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload, 0)


def _read_holder(fd):
    try:
        text = os.pread(fd, 65536, 0).decode("utf-8", "replace")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
