"""Unit tests of the pure parts of containermap.images: Dockerfile and context generation,
.dockerignore matching, image reference parsing and registry credential lookup (no Docker)."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import pytest
from containermap.exceptions import ConfigurationError
from containermap.images import (
    DockerContext,
    DockerFile,
    DockerIgnore,
    FinalizedError,
    format_command,
    format_expose,
    format_healthcheck,
    format_labels,
    join_image,
    parse_image,
    registry_auth,
)

# -- commands and properties --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "shell", "expected"),
    [
        ("/bin/sh -c true", False, '["/bin/sh", "-c", "true"]'),
        ("echo a\\ b c", False, '["echo", "a b", "c"]'),
        (["sleep", 10], False, '["sleep", "10"]'),
        (["echo", "hello world"], True, "echo hello world"),
        ("echo $HOME", True, "echo $HOME"),
        ([], False, "[]"),
        ("", True, "[]"),
        (None, False, "[]"),
    ],
)
def test_format_command(cmd, shell, expected):
    assert format_command(cmd, shell) == expected


def test_format_command_rejects_other_types():
    with pytest.raises(ValueError):
        format_command({"a": 1})


def test_format_expose_and_labels():
    assert format_expose(80) == "80"
    assert format_expose("80 443/udp") == "80 443/udp"
    assert format_expose([80, "53/udp"]) == "80 53/udp"
    assert format_labels({"a": "x y", "b": 'q"uote'}) == '"a"="x y" "b"="q\\"uote"'
    assert format_labels([("multi", "l1\nl2"), ("back", "a\\b")]) == '"multi"="l1\\nl2" "back"="a\\\\b"'


def test_format_healthcheck():
    assert format_healthcheck("--interval=5s CMD true") == "--interval=5s CMD true"
    assert format_healthcheck({"test": "NONE"}) == "NONE"
    assert (
        format_healthcheck({"test": ["CMD", "true"], "interval": 5, "retries": 3, "start_period": "1m"})
        == '--interval=5s --start-period=1m --retries=3 CMD ["true"]'
    )
    assert format_healthcheck({"test": ["CMD-SHELL", "curl -f x || exit 1"]}) == "CMD curl -f x || exit 1"


# -- DockerFile ---------------------------------------------------------------------------------


def test_dockerfile_order_and_finalisation():
    df = DockerFile(
        "local/busybox:latest",
        maintainer="Ops <ops@example.com>",
        initial=["# initial", "ENV A=1"],
        volumes=["/data"],
        entrypoint="/bin/sh -c",
        command=["echo", "hi"],
        cmd_user="1000",
        cmd_workdir="/srv",
        expose=[80, "53/udp"],
        labels={"k": "v"},
        shell=["/bin/sh", "-ec"],
        stopsignal="SIGINT",
        healthcheck="NONE",
    )
    df.run("echo", "one")
    df.run_all("echo two", ("echo", "three"), "")
    df.run_join("a", "b", ("c", "d"))
    df.comment("two\nlines")
    df.blank()
    df.prefix_all("ENV", ("X", "1"), "Y 2")
    df.add_volume("/logs")
    text = df.getvalue()
    assert text.splitlines() == [
        "FROM local/busybox:latest",
        "MAINTAINER Ops <ops@example.com>",
        "# initial",
        "ENV A=1",
        "RUN echo one",
        "RUN echo two",
        "RUN echo three",
        "",
        "RUN a && b && c d",
        "# two",
        "# lines",
        "",
        "ENV X 1",
        "ENV Y 2",
        'VOLUME ["/data", "/logs"]',
        "USER 1000",
        "WORKDIR /srv",
        'SHELL ["/bin/sh", "-ec"]',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["echo", "hi"]',
        "EXPOSE 80 53/udp",
        'LABEL "k"="v"',
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK NONE",
    ]
    assert df.finalized
    # finalising twice does not repeat the deferred part
    assert df.getvalue() == text
    for change in (lambda: df.run("x"), lambda: df.add_volume("/x"), lambda: df.writeline("x")):
        with pytest.raises(FinalizedError):
            change()


def test_dockerfile_shell_form_and_no_base():
    df = DockerFile(None, command="echo $HOME", entrypoint=["/bin/sh", "-c"], command_shell=True)
    assert df.getvalue() == "ENTRYPOINT /bin/sh -c\nCMD echo $HOME\n"


def test_dockerfile_maintainer_label_and_unknown_property():
    assert DockerFile("x", maintainer='A "B"', maintainer_label=True).getvalue() == (
        'FROM x\nLABEL "maintainer"="A \\"B\\""\n'
    )
    with pytest.raises(TypeError):
        DockerFile("x", nonsense=1)


def test_dockerfile_env_quotes_values():
    df = DockerFile("x")
    df.env({"A": "two words"}, B='q"')
    assert df.getvalue() == 'FROM x\nENV A="two words"\nENV B="q\\""\n'


def test_add_file_paths(tmp_path):
    src = tmp_path / "app.conf"
    src.write_text("x")
    spaced = tmp_path / "my file.txt"
    spaced.write_text("y")
    df = DockerFile("x")
    assert df.add_file(str(src)) == "app.conf"
    assert df.add_file(str(src), "/etc/app/app.conf", remove_final=True) == "etc/app/app.conf"
    assert df.add_file(str(spaced), "/opt/my file.txt", remove_final=True) == "opt/my file.txt"
    assert df.add_file(str(tmp_path) + os.sep, "/cfg", ctx_path="conf/dir") == "conf/dir"
    os.environ["DF_TEST_DIR"] = "/from/env"
    try:
        assert df.add_file(str(src), "$DF_TEST_DIR/app.conf", expandvars=True) == "from/env/app.conf"
    finally:
        del os.environ["DF_TEST_DIR"]
    with pytest.raises(ValueError):
        df.add_file(str(src), "/x", ctx_path="../outside")
    text = df.getvalue().splitlines()
    assert text[1:] == [
        "ADD app.conf app.conf",
        "ADD etc/app/app.conf /etc/app/app.conf",
        'ADD ["opt/my file.txt", "/opt/my file.txt"]',
        "ADD conf/dir /cfg",
        "ADD from/env/app.conf /from/env/app.conf",
        "RUN rm -Rf /etc/app/app.conf '/opt/my file.txt'",
    ]
    assert df.files == [
        (str(src), "app.conf"),
        (str(src), "etc/app/app.conf"),
        (str(spaced), "opt/my file.txt"),
        (str(tmp_path) + os.sep, "conf/dir"),
        (str(src), "from/env/app.conf"),
    ]


def _make_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            if data is None:
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_add_archive(tmp_path):
    archive = tmp_path / "payload.tar.gz"
    _make_archive(archive, [("./", None), ("./opt", None), ("./opt/a.txt", b"a"), ("top.txt", b"t")])
    df = DockerFile("x")
    assert df.add_archive(str(archive), remove_final=True) == ["opt", "top.txt"]
    assert df.getvalue().splitlines()[1:] == ["ADD opt opt", "ADD top.txt top.txt", "RUN rm -Rf opt top.txt"]
    bad = tmp_path / "bad.tar.gz"
    _make_archive(bad, [("../evil", b"x")])
    with pytest.raises(ValueError):
        DockerFile("x").add_archive(str(bad))


def test_save_and_context_manager(tmp_path):
    target = tmp_path / "Dockerfile"
    with DockerFile("x", command="true") as df:
        df.save(str(target))
    assert target.read_text() == 'FROM x\nCMD ["true"]\n'


# -- .dockerignore ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "sub/a.log", False),
        (["**/*.log"], "sub/deep/a.log", True),
        (["**/*.log"], "a.log", True),
        (["secret"], "secret/key", True),
        (["/secret/"], "secret", True),
        (["build/**"], "build/x/y", True),
        (["build/**"], "builder", False),
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["!README.md", "*.md"], "README.md", True),
        (["data", "!data/keep.txt"], "data/keep.txt", False),
        (["data", "!data/keep.txt"], "data/other.txt", True),
        (["file?.txt"], "file1.txt", True),
        (["file?.txt"], "file10.txt", False),
        (["file[0-9].txt"], "file5.txt", True),
        (["file[!0-9].txt"], "file5.txt", False),
        (["file[!0-9].txt"], "fileA.txt", True),
        (["# comment", "", "x"], "x", True),
        (["a\\*b"], "a*b", True),
        (["a\\*b"], "axb", False),
    ],
)
def test_dockerignore(patterns, path, excluded):
    assert DockerIgnore(patterns).excluded(path) is excluded


def test_dockerignore_bad_pattern():
    with pytest.raises(ValueError):
        DockerIgnore(["[abc"])


# -- DockerContext ------------------------------------------------------------------------------


def _tree(root):
    files = {
        "app/main.py": "print(1)",
        "app/debug.log": "noise",
        "app/sub/deep.log": "noise",
        "README.md": "read me",
        "NOTES.md": "notes",
        "data/keep.txt": "keep",
        "data/drop.txt": "drop",
        "secret/key": "k",
        ".dockerignore": "**/*.log\n*.md\n!README.md\ndata\n!data/keep.txt\nsecret\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.mark.parametrize(("compression", "encoding"), [("gz", "gzip"), ("bz2", "bzip2"), (None, None)])
def test_context_dockerignore_and_compression(tmp_path, compression, encoding):
    src = tmp_path / "src"
    _tree(src)
    with DockerContext(compression=compression) as ctx:
        ctx.add(str(src), arcname=".")
        ctx.finalize()
        assert ctx.stream_encoding == encoding
        with tarfile.open(fileobj=ctx.fileobj, mode="r:*") as tar:
            names = sorted(tar.getnames())
            assert tar.extractfile("app/main.py").read() == b"print(1)"
    assert names == sorted([".dockerignore", "app", "app/main.py", "app/sub", "README.md", "data/keep.txt"])


def test_context_add_with_arcname_and_without_ignore(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    with DockerContext(compression=None) as ctx:
        ctx.add(str(src / "app"), arcname="code", dockerignore=False)
        ctx.add(str(src / "README.md"))
        assert ctx.names == {
            "code",
            "code/main.py",
            "code/debug.log",
            "code/sub",
            "code/sub/deep.log",
            "README.md",
        }


def test_context_with_dockerfile(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("conf")
    archive = tmp_path / "payload.tar.gz"
    _make_archive(archive, [("opt", None), ("opt/a.txt", b"a")])
    df = DockerFile("local/busybox:latest", command="true")
    df.add_file(str(conf), "/etc/app.conf")
    df.add_archive(str(archive))
    target = tmp_path / "ctx.tar.gz"
    with DockerContext(df) as ctx:
        ctx.save(str(target))
        with pytest.raises(FinalizedError):
            ctx.addbytes("late", b"x")
    with tarfile.open(target, "r:gz") as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "etc/app.conf", "opt", "opt/a.txt"]
        dockerfile = tar.extractfile("Dockerfile").read().decode()
    assert (
        dockerfile == 'FROM local/busybox:latest\nADD etc/app.conf /etc/app.conf\nADD opt opt\nCMD ["true"]\n'
    )
    assert df.finalized


def test_context_refuses_escaping_archive_members(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with DockerContext() as ctx, pytest.raises(ValueError):
        ctx.addarchive(str(bad))


def test_context_dockerfile_path(tmp_path):
    path = tmp_path / "Dockerfile.custom"
    path.write_text("FROM x\n")
    with DockerContext(str(path), compression=None, finalize=True) as ctx:
        assert ctx.finalized
        with tarfile.open(fileobj=ctx.fileobj) as tar:
            assert tar.getnames() == ["Dockerfile"]


def test_unknown_compression():
    with pytest.raises(ValueError):
        DockerContext(compression="xz")


# -- image references and credentials -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", (None, "busybox", None)),
        ("busybox:1.36", (None, "busybox", "1.36")),
        ("docker.io/library/busybox:1", (None, "library/busybox", "1")),
        ("index.docker.io/team/app", (None, "team/app", None)),
        ("team/app:2", (None, "team/app", "2")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app", None)),
        ("127.0.0.1:5000/app:v1", ("127.0.0.1:5000", "app", "v1")),
        ("localhost/x:y", ("localhost", "x", "y")),
        ("quay.io/org/app", ("quay.io", "org/app", None)),
        ("registry.example.com:443/t/app:1.2", ("registry.example.com:443", "t/app", "1.2")),
        ("app@sha256:abc", (None, "app@sha256:abc", None)),
        ("reg.io:5000/app:1@sha256:abc", ("reg.io:5000", "app@sha256:abc", None)),
    ],
)
def test_parse_image(ref, expected):
    assert parse_image(ref) == expected


@pytest.mark.parametrize("ref", ["", "  ", "app:", "127.0.0.1:5000/", None])
def test_parse_image_invalid(ref):
    with pytest.raises(ConfigurationError):
        parse_image(ref)


def test_join_image():
    assert join_image("127.0.0.1:5000", "app") == "127.0.0.1:5000/app"
    assert join_image(None, "app", "1") == "app:1"


def test_registry_auth_lookup():
    configs = {
        "https://Registry.Example.com:5000/v2/": {"username": "u", "password": "p", "email": "e@x"},
        "docker.io": {"user": "hubuser", "password": "hubpw"},
        "quay.io": {"auth": base64.b64encode(b"qu:qp:with:colons").decode()},
    }
    assert registry_auth(configs, "registry.example.com:5000") == {
        "serveraddress": "registry.example.com:5000",
        "username": "u",
        "password": "p",
        "email": "e@x",
    }
    assert registry_auth(configs, None)["username"] == "hubuser"
    assert registry_auth(configs, "quay.io")["password"] == "qp:with:colons"
    # an anonymous registry (dot or port, no entry) needs no entry: no KeyError
    assert registry_auth(configs, "ghcr.io") is None
    assert registry_auth(configs, "127.0.0.1:5000") is None
    assert registry_auth(None, "127.0.0.1:5000") is None


def test_labels_value_round_trip_json():
    # LABEL values are the JSON-like quoted words Docker parses back to the same text
    text = format_labels({"k": 'a"b\\c'})
    assert json.loads(text.split("=", 1)[1]) == 'a"b\\c'
