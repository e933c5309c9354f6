"""Safe tar handling and the pure parts of containermap.archive (no Docker)."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile

import pytest
from containermap.archive import (
    ArchiveError,
    UnsafeArchiveMember,
    config_changes,
    destination,
    import_result,
    parse_chmod,
    parse_chown,
    safe_extract,
    sanitize_mode,
    streams,
)
from containermap.exceptions import ConfigurationError


def _member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_700_000_000
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _archive(*members, compress=False) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, data)
    buf.seek(0)
    return buf


@pytest.fixture
def box(tmp_path):
    """A target directory and a sibling 'outside' directory that must stay empty."""
    target = tmp_path / "target"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    yield target, outside
    assert sorted(os.listdir(outside)) == [], "something was written outside the target"


def _tree(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, reason",
    [
        (_member("../outside/evil", data=b"x"), "'..'"),
        (_member("ok/../../outside/evil", data=b"x"), "'..'"),
        (_member("/tmp/abs-evil", data=b"x"), "absolute path"),
        (_member("esc", tarfile.SYMTYPE, linkname="../outside"), "points outside"),
        (_member("deep/esc", tarfile.SYMTYPE, linkname="../../outside/x"), "points outside"),
        (_member("abs", tarfile.SYMTYPE, linkname="/etc/passwd"), "absolute path"),
        (_member("hard", tarfile.LNKTYPE, linkname="../outside/x"), "hard link"),
        (_member("hardabs", tarfile.LNKTYPE, linkname="/etc/passwd"), "hard link to absolute"),
        (_member("dev", tarfile.CHRTYPE), "character device"),
        (_member("blk", tarfile.BLKTYPE), "block device"),
        (_member("fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_unsafe_member_refused(box, bad, reason):
    target, _outside = box
    archive = _archive(_member("first.txt", data=b"1"), bad, _member("last.txt", data=b"2"))
    with pytest.raises(UnsafeArchiveMember) as err:
        safe_extract(archive, str(target))
    assert err.value.member == bad[0].name
    assert reason in str(err.value)
    assert bad[0].name in str(err.value)
    # stopped at the bad member: the one after it was not extracted
    assert _tree(target) == ["first.txt"]


def test_crafted_archive_nothing_outside(box):
    """A mix of all attacks, in 'skip' mode: only the safe members land, all inside."""
    target, outside = box
    archive = _archive(
        _member("dir", tarfile.DIRTYPE, mode=0o755),
        _member("dir/ok.txt", data=b"ok"),
        _member("../outside/evil1", data=b"x"),
        _member("/abs-evil", data=b"x"),
        _member("dir/esc", tarfile.SYMTYPE, linkname="../../outside"),
        _member("dir/esc/evil2", data=b"x"),  # through the (refused) escaping link
        _member("dir/in", tarfile.SYMTYPE, linkname="ok.txt"),
        _member("dir/hard", tarfile.LNKTYPE, linkname="dir/ok.txt"),
        _member("dev", tarfile.CHRTYPE),
        compress=True,
    )
    extractor = safe_extract(archive, str(target), on_unsafe="skip")
    assert _tree(target) == ["dir", "dir/esc", "dir/esc/evil2", "dir/hard", "dir/in", "dir/ok.txt"]
    # dir/esc/evil2 became a plain directory + file inside the target, never via the link
    assert os.path.isdir(target / "dir" / "esc") and not os.path.islink(target / "dir" / "esc")
    assert sorted(name for name, _ in extractor.skipped) == [
        "../outside/evil1",
        "/abs-evil",
        "dev",
        "dir/esc",
    ]
    assert os.readlink(target / "dir" / "in") == "ok.txt"
    assert os.stat(target / "dir" / "hard").st_ino == os.stat(target / "dir" / "ok.txt").st_ino
    _tree_outside = os.listdir(outside)
    assert _tree_outside == []


def test_existing_symlink_on_disk_is_not_followed(box):
    """A symlink already in the target pointing outside: members through it are refused, and a
    member with the link's own name replaces the link instead of writing through it."""
    target, outside = box
    os.symlink(str(outside), target / "trap")
    with pytest.raises(UnsafeArchiveMember, match="outside the target"):
        safe_extract(_archive(_member("trap/evil", data=b"x")), str(target))
    safe_extract(_archive(_member("trap", data=b"replaced")), str(target))
    assert not os.path.islink(target / "trap")
    assert (target / "trap").read_bytes() == b"replaced"


def test_hardlink_to_missing_target_refused(box):
    target, _ = box
    with pytest.raises(UnsafeArchiveMember, match="not an extracted regular file"):
        safe_extract(_archive(_member("h", tarfile.LNKTYPE, linkname="nothere")), str(target))


# -- modes and owners -----------------------------------------------------------------------------


def test_sane_modes_by_default(box):
    target, _ = box
    archive = _archive(
        _member("private", tarfile.DIRTYPE, mode=0o700),
        _member("private/key", data=b"k", mode=0o600),
        _member("suid", data=b"#!", mode=0o4755),
        _member("sgid-dir", tarfile.DIRTYPE, mode=0o2775),
        _member("world", data=b"w", mode=0o777),
        _member("readonly", data=b"r", mode=0o400),
    )
    safe_extract(archive, str(target))

    def mode(name):
        return stat.S_IMODE(os.lstat(target / name).st_mode)

    assert mode("private") == 0o700
    assert mode("private/key") == 0o600
    assert mode("suid") == 0o755
    assert mode("sgid-dir") == 0o755
    assert mode("world") == 0o755
    assert mode("readonly") == 0o600  # owner keeps read/write
    assert os.stat(target / "suid").st_mtime == 1_700_000_000


def test_keep_modes(box):
    target, _ = box
    safe_extract(_archive(_member("suid", data=b"#!", mode=0o4755)), str(target), keep_modes=True)
    assert stat.S_IMODE(os.lstat(target / "suid").st_mode) == 0o4755


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_chown_and_chmod_on_extraction(box):
    target, _ = box
    archive = _archive(_member("d", tarfile.DIRTYPE, mode=0o755), _member("d/f", data=b"x", mode=0o644))
    safe_extract(archive, str(target), chown=(2000, 2001), chmod=parse_chmod("u=rwX,g=rX,o="))
    for name, want in (("d", 0o750), ("d/f", 0o640)):
        st = os.lstat(target / name)
        assert (st.st_uid, st.st_gid) == (2000, 2001)
        assert stat.S_IMODE(st.st_mode) == want


def test_sanitize_mode():
    assert sanitize_mode(0o4755, False) == 0o755
    assert sanitize_mode(0o1777, True) == 0o755
    assert sanitize_mode(0o500, True) == 0o700
    assert sanitize_mode(0o000, False) == 0o600


@pytest.mark.parametrize(
    "spec, mode, is_dir, want",
    [
        ("750", 0o644, False, 0o750),
        ("0o2750", 0o644, True, 0o2750),
        (0o640, 0o755, False, 0o640),
        (True, 0o777, True, 0o750),
        (True, 0o666, False, 0o640),
        ("u=rwX,g=rX,o=", 0o755, False, 0o750),
        ("u=rwX,g=rX,o=", 0o644, False, 0o640),
        ("go-w", 0o777, False, 0o755),
        ("+x", 0o644, False, 0o755),
        ("a-x,u+x", 0o755, False, 0o744),
        ("g=u", 0o640, False, 0o660),
        ("u+s", 0o755, False, 0o4755),
        ("o+t", 0o755, True, 0o1755),
        ("=r", 0o4755, False, 0o444),
    ],
)
def test_parse_chmod(spec, mode, is_dir, want):
    assert parse_chmod(spec)(mode, is_dir) == want


@pytest.mark.parametrize("spec", ["9", "u=q", "rwx", "u+rw,", 0o17777])
def test_parse_chmod_invalid(spec):
    with pytest.raises(ConfigurationError):
        parse_chmod(spec)


def test_parse_chown():
    assert parse_chown(None) is None
    assert parse_chown("2000:2000") == (2000, 2000)
    assert parse_chown("2000") == (2000, -1)
    assert parse_chown(":3000") == (-1, 3000)
    assert parse_chown("root:root") == (0, 0)
    assert parse_chown("root:") == (0, 0)
    assert parse_chown((5, 6)) == (5, 6)
    assert parse_chown(7) == (7, -1)
    for bad in ("nosuchuser-h7", "0:nosuchgroup-h7", True, ":"):
        with pytest.raises(ConfigurationError):
            parse_chown(bad)


# -- destination rules ---------------------------------------------------------------------------


def test_destination_rules():
    assert destination("/var/lib/app/data1", None) == ("var/lib/app/data1", False)
    mapping = {"/var/lib/app/data1": "d1", "/var/lib/app/data2": "/x/d2", "/etc/conf": "confs/", "*": "rest"}
    assert destination("/var/lib/app/data1", mapping) == ("d1", False)
    assert destination("/var/lib/app/data1/", mapping) == ("d1", False)
    assert destination("/var/lib/app/data2", mapping) == ("x/d2", False)
    assert destination("/etc/conf", mapping) == ("confs", True)
    assert destination("/other", mapping) == ("rest", False)
    assert destination("/other", {"/x": "y"}) == ("other", False)
    with pytest.raises(ConfigurationError, match=r"\.\."):
        destination("/a", {"/a": "../up"})
    with pytest.raises(ConfigurationError):
        destination("/", None)


# -- streams -------------------------------------------------------------------------------------


def test_tar_chunks_roundtrip_renames_and_long_names():
    long_name = "d/" + "n" * 150 + "/file"
    source = _archive(
        _member("d", tarfile.DIRTYPE, mode=0o755),
        _member(long_name, data=b"long" * 1000),
        _member("d/h", tarfile.LNKTYPE, linkname=long_name),
    )
    with tarfile.open(fileobj=source, mode="r|") as tar:
        entries = []
        for member in tar:
            name = "new" + member.name[1:]
            changes = {"name": name}
            if member.islnk():
                changes["linkname"] = "new" + member.linkname[1:]
            fileobj = tar.extractfile(member) if member.isreg() else None
            entries.append(streams.copy_info(member, **changes))
            entries[-1] = (entries[-1], io.BytesIO(fileobj.read()) if fileobj else None)
    data = b"".join(streams.coalesce(streams.tar_chunks(entries)))
    assert len(data) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names == ["new", "new" + long_name[1:], "new/h"]
        assert tar.extractfile("new" + long_name[1:]).read() == b"long" * 1000
        assert tar.getmember("new/h").linkname == "new" + long_name[1:]


def test_write_file_gzip_atomic(tmp_path):
    out = tmp_path / "x.tar.gz"
    chunks = [b"a" * 1000, b"b" * 5000]
    result = streams.write_file(chunks, str(out))
    assert gzip.decompress(out.read_bytes()) == b"".join(chunks)
    assert result["size"] == out.stat().st_size and result["data_size"] == 6000
    import hashlib

    assert result["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()

    def failing():
        yield b"x" * 100
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError):
        streams.write_file(failing(), str(tmp_path / "y.tar.gz"))
    assert sorted(os.listdir(tmp_path)) == ["x.tar.gz"], "partial file left behind"
    plain = streams.write_file([b"plain"], str(tmp_path / "z.tar"), checksum=False)
    assert (tmp_path / "z.tar").read_bytes() == b"plain"
    assert plain["sha256"] is None and plain["size"] == 5


def test_read_ahead_passes_data_and_errors():
    assert list(streams.read_ahead(iter([b"1", b"2", b"3"]), depth=1)) == [b"1", b"2", b"3"]

    def broken():
        yield b"1"
        raise ValueError("producer failed")

    with pytest.raises(ValueError, match="producer failed"):
        list(streams.read_ahead(broken()))
    closed = []

    def endless():
        try:
            while True:
                yield b"x"
        finally:
            closed.append(True)

    gen = streams.read_ahead(endless(), depth=2)
    next(gen)
    gen.close()
    assert closed == [True], "producer not stopped when the consumer stopped"


def test_iter_reader():
    reader = streams.IterReader(iter([b"ab", b"", b"cde"]))
    assert reader.read() == b"abcde"
    assert reader.count == 5


# -- import changes ------------------------------------------------------------------------------


def test_config_changes():
    config = {
        "Env": ["PATH=/usr/bin:/bin", 'Q=a "b" $HOME \\'],
        "Cmd": ["ls /"],
        "Entrypoint": ["/bin/sh", "-c"],
        "WorkingDir": "/data",
        "User": "1000:1000",
        "ExposedPorts": {"9090/udp": {}, "8080/tcp": {}},
        "Volumes": {"/data": {}},
        "Labels": {"a.b": "c d"},
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000, "Retries": 3},
        "StopSignal": "SIGINT",
        "OnBuild": None,
    }
    changes, lost = config_changes(config)
    assert changes == [
        'ENV PATH="/usr/bin:/bin"',
        'ENV Q="a \\"b\\" \\$HOME \\\\"',
        'LABEL "a.b"="c d"',
        "EXPOSE 8080/tcp 9090/udp",
        'VOLUME ["/data"]',
        'WORKDIR "/data"',
        'USER "1000:1000"',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["ls /"]',
        "HEALTHCHECK --interval=2000000000ns --retries=3 CMD true",
    ]
    assert lost == ["StopSignal"]
    assert config_changes({"Env": ["A=line\nbreak"]}) == ([], ["Env A"])
    assert config_changes(None) == ([], [])


def test_import_result():
    assert import_result('{"status":"sha256:abc"}\r\n') == "sha256:abc"
    with pytest.raises(ArchiveError, match="bad tar"):
        import_result('{"errorDetail":{"message":"bad tar"},"error":"bad tar"}\r\n')
    with pytest.raises(ArchiveError):
        import_result("")


def test_parallel_gzip_is_one_standard_member(tmp_path):
    """Several blocks compressed in parallel still make one valid gzip member (gzip -t, and
    the content and ratio of a single-threaded stream)."""
    import base64
    import shutil
    import subprocess

    data = base64.b64encode(os.urandom(int(2.6 * streams.GZIP_BLOCK))) + bytes(streams.GZIP_BLOCK)
    out = tmp_path / "x.tar.gz"
    chunks = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    result = streams.write_file(chunks, str(out))
    raw = out.read_bytes()
    assert gzip.decompress(raw) == data
    assert result["data_size"] == len(data)
    assert len(raw) < len(gzip.compress(data, 6)) * 1.01
    if shutil.which("gzip"):
        subprocess.run(["gzip", "-t", str(out)], check=True)
        listing = subprocess.run(["gzip", "-l", str(out)], check=True, capture_output=True, text=True).stdout
        assert str(len(data)) in listing


# -- streaming tar reader --------------------------------------------------------------------------


def _sample_tar(fmt: int) -> bytes:
    long_dir = "d/" + "x" * 120
    members = [
        _member("d", tarfile.DIRTYPE, mode=0o755),
        _member(long_dir, tarfile.DIRTYPE, mode=0o700),
        _member(long_dir + "/" + "f" * 110, data=os.urandom(70_000), mode=0o4755),
        _member("d/empty", data=b""),
        _member("d/link", tarfile.SYMTYPE, linkname="../" + "t" * 120),
        _member("d/hard", tarfile.LNKTYPE, linkname=long_dir + "/" + "f" * 110),
        _member("d/small", data=b"hello"),
    ]
    members[2][0].uid, members[2][0].uname = 3_000_000, "ü-user"
    if fmt == tarfile.PAX_FORMAT:
        members[6][0].pax_headers = {"SCHILY.xattr.user.test": "value"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, data)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("piece", [1, 511, 4096, 1 << 20])
def test_iter_tar_matches_tarfile(fmt, piece):
    from containermap.archive.tarstream import iter_tar

    if fmt == tarfile.USTAR_FORMAT:
        with pytest.raises(ValueError):  # ustar cannot hold the long names: tarfile refuses
            _sample_tar(fmt)
        return
    raw = _sample_tar(fmt)
    expected = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar:
            data = tar.extractfile(m).read() if m.isreg() else None
            expected.append(
                (m.name, m.type, m.mode, m.uid, m.uname, m.linkname, m.size if m.isreg() else 0, data)
            )
    got = []
    for m, data in iter_tar(raw[i : i + piece] for i in range(0, len(raw), piece)):
        content = None
        if data is not None:
            parts = []
            while part := data.read(3000):
                parts.append(bytes(part))
            content = b"".join(parts)
        got.append((m.name, m.type, m.mode, m.uid, m.uname, m.linkname, m.size if m.isreg() else 0, content))
        if fmt == tarfile.PAX_FORMAT and m.name == "d/small":
            assert m.pax_headers.get("SCHILY.xattr.user.test") == "value"
    assert got == expected


def test_iter_tar_skips_unread_data_and_detects_truncation():
    from containermap.archive.tarstream import iter_tar

    raw = _sample_tar(tarfile.PAX_FORMAT)
    names = [m.name for m, _data in iter_tar([raw])]  # data never read: skipped
    assert names[-1] == "d/small" and len(names) == 7
    for cut, message in (
        (3000, "extended header"),
        (5000, "ends in the middle of member"),
        (512, "end-of-archive"),
    ):
        with pytest.raises(ArchiveError, match=message):
            for _m, data in iter_tar([raw[:cut]]):
                if data is not None:
                    while data.read(1000):
                        pass
    with pytest.raises(ArchiveError, match="invalid tar header"):
        list(iter_tar([b"\1" * 512]))
