"""Unit tests of what ``DockerContext.add_dockerfile`` accepts: a DockerFile, a path or text."""

from __future__ import annotations

import pathlib
import tarfile

import pytest
from containermap.images import DockerContext, DockerFile
from containermap.images.context import is_dockerfile_text


def _dockerfile_of(ctx: DockerContext) -> bytes:
    ctx.finalize()
    with tarfile.open(fileobj=ctx.fileobj) as tar:
        return tar.extractfile("Dockerfile").read()


@pytest.mark.parametrize(
    "value",
    [
        "FROM local/busybox:latest",
        "from local/busybox:latest",
        "  ARG VERSION=1",
        "FROM\tbusybox",
        "RUN true\n",
        "# syntax comment only\nFROM busybox",
        "Dockerfile\n",  # a newline always means text
    ],
)
def test_text(value):
    assert is_dockerfile_text(value)


@pytest.mark.parametrize(
    "value", ["Dockerfile", "./Dockerfile", "/srv/app/Dockerfile", "FROM", "from-dir/Dockerfile", "copy.txt"]
)
def test_path(value):
    assert not is_dockerfile_text(value)


def test_add_text_gets_final_newline():
    with DockerContext() as ctx:
        ctx.add_dockerfile("FROM local/busybox:latest")
        assert _dockerfile_of(ctx) == b"FROM local/busybox:latest\n"


def test_add_multiline_text_and_bytes():
    text = "FROM local/busybox:latest\nRUN echo hi\n"
    with DockerContext(text) as ctx:
        assert _dockerfile_of(ctx) == text.encode()
    with DockerContext(text.encode()) as ctx:
        assert _dockerfile_of(ctx) == text.encode()


def test_add_path_str_and_pathlike(tmp_path):
    path = tmp_path / "Dockerfile.app"
    path.write_text('FROM local/busybox:latest\nCMD ["true"]\n')
    for value in (str(path), path):
        with DockerContext() as ctx:
            ctx.add_dockerfile(value)
            assert ctx.names == {"Dockerfile"}
            assert _dockerfile_of(ctx) == path.read_bytes()


def test_pathlike_named_like_an_instruction(tmp_path, monkeypatch):
    """A file whose name reads as an instruction is reached with a Path, never by guessing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FROM x").write_text("FROM local/busybox:latest\nRUN true\n")
    with DockerContext() as ctx:
        ctx.add_dockerfile(pathlib.Path("FROM x"))
        assert b"RUN true" in _dockerfile_of(ctx)
    with DockerContext() as ctx:
        ctx.add_dockerfile("FROM x")  # the str is text, whatever exists on disk
        assert _dockerfile_of(ctx) == b"FROM x\n"


def test_missing_path_is_a_clear_error(tmp_path):
    with DockerContext() as ctx, pytest.raises(FileNotFoundError, match="not a file"):
        ctx.add_dockerfile(str(tmp_path / "nope"))
    with DockerContext() as ctx, pytest.raises(FileNotFoundError):
        ctx.add_dockerfile(tmp_path)  # a directory is not a Dockerfile


def test_dockerfile_object_adds_its_files(tmp_path):
    source = tmp_path / "app.sh"
    source.write_text("echo app\n")
    df = DockerFile("local/busybox:latest")
    df.add_file(str(source), "/app.sh")
    with DockerContext(df) as ctx:
        assert {"Dockerfile", "app.sh"} <= ctx.names
        assert _dockerfile_of(ctx).startswith(b"FROM local/busybox:latest\n")


def test_other_types_rejected():
    with DockerContext() as ctx, pytest.raises(TypeError):
        ctx.add_dockerfile(42)  # type: ignore[arg-type]
