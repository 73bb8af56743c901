"""Where the IMDB reviews come from: archives, an extracted tree, or a download.

Accepted sources (DESIGN section 3):

* the official ``aclImdb_v1.tar.gz``;
* an extracted ``aclImdb/`` directory (or a directory that contains one);
* several archives that together form ``aclImdb/``, given one by one or as the
  directory that holds them (the layout of ``../shared/data/imdb``).

Archives are streamed member by member and never extracted to disk, so a
member path cannot escape anywhere; members with absolute or ``..`` paths, or
links inside review directories, are refused all the same.
"""

import bz2
import gzip
import hashlib
import lzma
import os
import tarfile
import urllib.error
import urllib.request
import zlib

from interpretable_adv.errors import PrepareError
from data_prep.layout import (
    GROUPS,
    LABELED_GROUPS,
    UNLABELED_GROUPS,
    parse_review_name,
    parse_review_path,
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar")

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
OFFICIAL_SIZE = 84125825

_READ_ERRORS = (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError)
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"\xfd7zXZ\x00", lzma.open), (b"BZh", bz2.open))


class _StrictTarInfo(tarfile.TarInfo):
    """Header parsing that refuses what tarfile would silently take as the end.

    After the first member, tarfile treats an invalid or truncated header as
    the end of the archive; a corrupt archive would then look like a shorter one.
    """

    @classmethod
    def fromtarfile(cls, tar):
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:
            raise
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as exc:
            raise tarfile.ReadError("invalid tar header at byte %d: %s" % (tar.offset, exc)) from None
        except tarfile.EmptyHeaderError:
            raise tarfile.ReadError("archive ends without its end-of-archive marker") from None


def _open_decompressed(path):
    """The archive's tar byte stream, decompressed by a reader that verifies checksums.

    tarfile's own stream reader neither checks the gzip CRC nor notices a
    truncated gzip stream; gzip/lzma/bz2 file objects do, when read to the end.
    """
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(path, "rb")
    return open(path, "rb")


class Review:
    """One raw review: its group, file id, rating, bytes and where it came from."""

    __slots__ = ("group", "file_id", "rating", "raw", "where")

    def __init__(self, group, file_id, rating, raw, where):
        self.group = group
        self.file_id = file_id
        self.rating = rating
        self.raw = raw
        self.where = where


class ArchiveSource:
    """A tar archive (gz, xz, bz2 or plain) holding part or all of ``aclImdb/``."""

    def __init__(self, path):
        self.path = path

    def __repr__(self):
        return "ArchiveSource(%r)" % self.path

    def cost(self):
        return os.path.getsize(self.path)

    def fingerprint(self):
        st = os.stat(self.path)
        return ["archive", os.path.basename(self.path), st.st_size, st.st_mtime_ns]

    def iter_reviews(self, groups):
        """Yield the :class:`Review` objects of ``groups`` in archive order."""
        seen_layout = False
        try:
            with _open_decompressed(self.path) as stream, \
                    tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo) as tar:
                for member in tar:
                    name = member.name
                    _check_member_name(self.path, name)
                    where = "%s:%s" % (self.path, name)
                    try:
                        parsed = None if member.isdir() else parse_review_path(name)
                    except ValueError as exc:
                        raise PrepareError("%s: wrong layout: %s" % (where, exc)) from None
                    if name.lstrip("./").startswith("aclImdb/"):
                        seen_layout = True
                    if parsed is None:
                        continue
                    group, file_id, rating = parsed
                    if group not in groups:
                        continue
                    if not member.isfile():
                        raise PrepareError("%s: not a regular file (links are refused)" % where)
                    raw = tar.extractfile(member).read()
                    yield Review(group, file_id, rating, raw, where)
                _check_clean_end(stream)
        except _READ_ERRORS as exc:
            raise PrepareError("%s: corrupt or truncated archive (%s)" % (self.path, _one_line(exc))) from None
        if not seen_layout:
            raise PrepareError("%s: wrong layout: no member under aclImdb/" % self.path)


class DirectorySource:
    """An extracted ``aclImdb/`` directory."""

    def __init__(self, root):
        self.root = root

    def __repr__(self):
        return "DirectorySource(%r)" % self.root

    def cost(self):
        return 1

    def _group_dir(self, group):
        return os.path.join(self.root, *group.split("/"))

    def _names(self, group):
        directory = self._group_dir(group)
        if not os.path.isdir(directory):
            return []
        return sorted(n for n in os.listdir(directory) if not n.startswith("."))

    def fingerprint(self):
        entries = ["directory"]
        for group in GROUPS:
            directory = self._group_dir(group)
            for name in self._names(group):
                st = os.stat(os.path.join(directory, name))
                entries.append([group, name, st.st_size, st.st_mtime_ns])
        return entries

    def iter_reviews(self, groups):
        for group in groups:
            directory = self._group_dir(group)
            for name in self._names(group):
                path = os.path.join(directory, name)
                try:
                    file_id, rating = parse_review_name(name)
                except ValueError as exc:
                    raise PrepareError("%s: wrong layout: %s" % (path, exc)) from None
                if os.path.islink(path) or not os.path.isfile(path):
                    raise PrepareError("%s: not a regular file" % path)
                try:
                    with open(path, "rb") as f:
                        raw = f.read()
                except OSError as exc:
                    raise PrepareError("%s: cannot read (%s)" % (path, exc.strerror or exc)) from None
                yield Review(group, file_id, rating, raw, path)


def resolve_sources(paths):
    """Turn the user's source paths into a list of sources, or raise PrepareError."""
    if not paths:
        raise PrepareError("no IMDB source given: pass aclImdb_v1.tar.gz, an aclImdb/ directory, "
                           "or the directory of archives (e.g. ../shared/data/imdb), or use --download")
    sources = []
    for path in paths:
        if not os.path.exists(path):
            raise PrepareError("%s: no such file or directory" % path)
        if os.path.isfile(path):
            if not path.endswith(ARCHIVE_SUFFIXES):
                raise PrepareError("%s: not a tar archive (expected one of %s)" % (path, ", ".join(ARCHIVE_SUFFIXES)))
            sources.append(ArchiveSource(path))
            continue
        if os.path.isdir(os.path.join(path, "train")) or os.path.isdir(os.path.join(path, "test")):
            sources.append(DirectorySource(path))
        elif os.path.isdir(os.path.join(path, "aclImdb")):
            sources.append(DirectorySource(os.path.join(path, "aclImdb")))
        else:
            archives = sorted(n for n in os.listdir(path) if n.endswith(ARCHIVE_SUFFIXES))
            if not archives:
                raise PrepareError("%s: wrong layout: expected an aclImdb/ directory, its train/ and test/ "
                                   "subdirectories, or .tar.gz/.tar.xz archives" % path)
            sources.extend(ArchiveSource(os.path.join(path, n)) for n in archives)
    return sources


def plan_units(sources):
    """Split the reading work into units ``(source, groups)`` that can run in parallel.

    A directory is read group by group; several archives are read one per unit;
    a single archive is read twice (labeled groups, unlabeled group) so that
    two cores share the tokenisation. Units are ordered largest first.
    """
    archives = [s for s in sources if isinstance(s, ArchiveSource)]
    units = []
    for source in sources:
        if isinstance(source, DirectorySource):
            units.extend((source, (group,)) for group in GROUPS)
        elif len(archives) == 1:
            units.append((source, LABELED_GROUPS))
            units.append((source, UNLABELED_GROUPS))
        else:
            units.append((source, tuple(GROUPS)))

    def cost(unit):
        source, groups = unit
        weight = 2 if UNLABELED_GROUPS[0] in groups else 1
        return source.cost() * weight

    return sorted(units, key=cost, reverse=True)


def download_official(dest_dir):
    """Download ``aclImdb_v1.tar.gz`` into ``dest_dir`` with a progress bar and checksum.

    Reuses a file that is already there with the right checksum. Raises
    PrepareError (with the reason) when the network cannot be reached.
    """
    from tqdm import tqdm

    os.makedirs(dest_dir, exist_ok=True)
    target = os.path.join(dest_dir, "aclImdb_v1.tar.gz")
    if os.path.exists(target) and sha256_of(target) == OFFICIAL_SHA256:
        return target
    partial = target + ".part"
    try:
        with urllib.request.urlopen(OFFICIAL_URL, timeout=30) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or OFFICIAL_SIZE)
            with tqdm(total=total, unit="B", unit_scale=True, desc="download aclImdb_v1.tar.gz") as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        _remove(partial)
        reason = getattr(exc, "reason", exc)
        raise PrepareError("%s: download failed (%s); no network access? Fetch the file elsewhere "
                           "and pass its path instead of --download" % (OFFICIAL_URL, _one_line(reason))) from None
    digest = sha256_of(partial)
    if digest != OFFICIAL_SHA256:
        _remove(partial)
        raise PrepareError("%s: checksum mismatch (sha256 %s, expected %s)" % (OFFICIAL_URL, digest, OFFICIAL_SHA256))
    os.replace(partial, target)
    return target


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_clean_end(stream):
    """Read the stream to its end: tar padding must be zeros, checksums must verify.

    tarfile stops silently at the first invalid header after the first member,
    so garbage there would otherwise pass as a shorter archive.
    """
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        if chunk.strip(b"\0"):
            raise tarfile.ReadError("invalid tar header inside the archive")


def _check_member_name(archive, name):
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or ".." in parts:
        raise PrepareError("%s:%s: unsafe member path (absolute or containing '..')" % (archive, name))


def _one_line(obj):
    return " ".join(str(obj).split())


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
