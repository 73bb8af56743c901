"""Reading files safely and writing them atomically.

Reading: every ``.npz`` the project opens (LM files, ``best_model.npz``,
trainer snapshots, upstream checkpoints) is read by NumPy with
``allow_pickle=False``. Chainer's own :func:`chainer.serializers.load_npz`
enables pickling, so a crafted file with an object array could run code
when loaded; :func:`load_npz` here drives Chainer's ``NpzDeserializer`` over
a pickle-free archive instead, and turns unreadable or crafted files into a
one-line :class:`~interpretable_adv.errors.UsageError` that names the file.

Writing: :func:`atomic_write_text`, :func:`atomic_write_json` and
:func:`atomic_path` write to a hidden temporary name in the destination's
directory and rename it into place, so a killed process leaves either the
old file or the new one, never half of one. :func:`remove_stale_temporaries`
clears what killed writers (ours and Chainer's snapshot writer) left behind.
"""

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
import zlib

import numpy as np

from interpretable_adv.errors import UnsafeFile, UsageError

_PICKLE_REFUSED = "Object arrays cannot be loaded when allow_pickle=False"


def _describe(path, what):
    return "%s %s" % (what, path) if what else str(path)


def _reason(exc):
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if "allow_pickle=False" in str(exc):
        return "not a zip archive; it would have to be unpickled, which is refused"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def open_npz(path, what=None):
    """``np.load(path, allow_pickle=False)`` whose failures are one-line :class:`UsageError` s.

    ``what`` names the file's role in messages (e.g. ``"--lm"``). An object
    array met while reading raises :class:`UnsafeFile`; the payload is never
    unpickled.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError("%s: not a readable .npz file (%s)" % (_describe(path, what), _reason(exc))) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError("%s: not an .npz archive (a single array)" % _describe(path, what))
    try:
        with archive:
            yield archive
    except UsageError:
        raise
    except ValueError as exc:
        if _PICKLE_REFUSED in str(exc):
            raise UnsafeFile("%s: holds a pickled object array; refusing to load it (it could run code). "
                             "Files written by iadv never contain one" % _describe(path, what)) from None
        raise UsageError("%s: corrupt or truncated .npz file (%s)" % (_describe(path, what), _reason(exc))) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise UsageError("%s: corrupt or truncated .npz file (%s)" % (_describe(path, what), _reason(exc))) from None


def check_npz(path, what=None):
    """Read every array of ``path`` (pickling off): raises :class:`UsageError` unless all are readable."""
    with open_npz(path, what) as archive:
        for key in archive.files:
            archive[key]


def load_npz(path, obj, what=None):
    """Chainer's ``load_npz(path, obj)`` with pickling off and one-line errors.

    A missing key or a shape mismatch becomes a :class:`UsageError`
    naming the file and the key.
    """
    from chainer.serializers import NpzDeserializer

    with open_npz(path, what) as archive:
        try:
            NpzDeserializer(archive).load(obj)
        except KeyError as exc:
            raise UsageError("%s: has no entry %s; it was not written for this model"
                             % (_describe(path, what), exc)) from None
        except (TypeError,) as exc:
            raise UsageError("%s: does not fit this model (%s)" % (_describe(path, what), _reason(exc))) from None
        except ValueError as exc:
            if isinstance(exc, UsageError) or _PICKLE_REFUSED in str(exc):
                raise
            raise UsageError("%s: does not fit this model (%s)" % (_describe(path, what), _reason(exc))) from None


def read_json(path, what=None):
    """Parse a JSON file; a missing or unparsable file is a :class:`UsageError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise UsageError("%s: cannot read (%s)" % (_describe(path, what), _reason(exc))) from None
    except ValueError as exc:
        raise UsageError("%s: not valid JSON (%s); it may be from a killed run: remove it and rerun"
                         % (_describe(path, what), _reason(exc))) from None


def read_json_lines(path, what=None):
    """The objects of a JSON-lines file (blank lines skipped); an unreadable file, or a line that is not a JSON
    object, is a :class:`UsageError` naming ``path:line``."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError("%s: cannot read (%s)" % (_describe(path, what), _reason(exc))) from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise UsageError("%s:%d: not valid JSON (%s); rerun the command that wrote it"
                             % (path, number, _reason(exc))) from None
        if not isinstance(entry, dict):
            raise UsageError("%s:%d: not a JSON object; not written by iadv" % (path, number))
        out.append(entry)
    return out


def json_parses(path):
    """Whether ``path`` is a file holding valid JSON (a finished stage's results file)."""
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        return True
    except (OSError, ValueError):
        return False


TEMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, else removed.

    The temporary name is ``.NAME.tmp-XXXX`` (with NAME's extension kept last,
    so writers that infer a format from it, like matplotlib, still work). A
    writer must write exactly the path it is given: hand ``np.savez`` and
    ``savefig`` an open file, as they append an extension to a name without
    one. ``path`` may not be a directory (:class:`UsageError`).
    """
    if os.path.isdir(path):
        raise UsageError("%s: is a directory; the file to write needs a name of its own" % path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    suffix = os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix="." + base + TEMP_MARK, suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; give the file the mode open() would
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


_OUR_TEMPORARY = re.compile(r"^\.(?P<name>.+?)" + re.escape(TEMP_MARK) + r"[^/]*$")


def user_path(path):
    """``path`` with each of our temporaries in it named as the user's path it stands for.

    ``DIR/.NAME.tmp-XXXX[.ext]`` -> ``DIR/NAME``, for a temporary file
    (:func:`atomic_path`) or directory (``iadv prepare``'s staging directory).
    """
    if not path:
        return path
    parts = os.fsdecode(path).split(os.sep)
    return os.sep.join(m.group("name") if m else part for part in parts for m in [_OUR_TEMPORARY.match(part)])


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (temporary file, flush, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_json(path, payload):
    """``payload`` as indented JSON, written atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


# Chainer's snapshot writer saves into ``tmp<filename>XXXX/`` inside the output directory, its
# LogReport into ``logXXXXXXXX/`` (tempfile's 8 random characters); ours use ``.NAME.tmp-XXXX``.
_STALE = re.compile(r"^(tmp(snapshot_iter_\d+|best_model\.npz|lm\.npz).*|\..*" + re.escape(TEMP_MARK) + r".*|.*\.tmp\.npz)$")
_STALE_LOG_DIR = re.compile(r"^log[a-z0-9_]{8}$")


def stale_temporaries(directory):
    """Names in ``directory`` left by killed writers (Chainer's snapshot and log writers, ours)."""
    if not os.path.isdir(directory):
        return []
    return sorted(name for name in os.listdir(directory)
                  if _STALE.match(name) or (_STALE_LOG_DIR.match(name) and os.path.isdir(os.path.join(directory, name))))


def remove_stale_temporaries(directory, log=None):
    """Remove :func:`stale_temporaries` of ``directory``; returns their names."""
    names = stale_temporaries(directory)
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(path)
    if names and log is not None:
        log("removed %d temporary file(s) left by a killed run in %s: %s" % (len(names), directory, ", ".join(names)))
    return names


def warn(message):
    print("warning: %s" % message, file=sys.stderr)
