"""test_install_docs.py — what `make install DESTDIR=...` puts beside the binaries for the
operator: the man pages berth(1), blockd(8), vmengine(8), diskengine(8) and berth.conf(5),
built by scdoc from docs/man/*.scd, each rendered with `man -l` and checked for its sections
and for agreeing with the programs and the docs (every option of each program's --help and
every command of `berth --help` in its page, every key of docs/configuration.md in
berth.conf(5)); and the bash completion, the output of `berth completion bash`."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, REPO

PREFIX = "usr/local"
PAGES = {"berth": "1", "blockd": "8", "vmengine": "8", "diskengine": "8", "berth.conf": "5"}
SECTIONS = {
    "berth": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS",
              "ENVIRONMENT", "FILES", "SEE ALSO"],
    "blockd": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SYSTEMD", "SIGNALS", "FILES", "SEE ALSO"],
    "vmengine": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SYSTEMD", "SIGNALS", "FILES", "SEE ALSO"],
    "diskengine": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SYSTEMD", "FILES", "SEE ALSO"],
    "berth.conf": ["NAME", "SYNOPSIS", "DESCRIPTION", "[berth]", "[vmengine]", "[diskengine]",
                   "[supervisor]", "[blockd]", "SEE ALSO"],
}


def program(name):
    return BUILD / "src" / ("cli" if name == "berth" else name) / name


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    for tool in ("scdoc", "man"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run scripts/setup")
    root = tmp_path_factory.mktemp("destdir")
    args = ["make", "-C", str(REPO), "--no-print-directory", "install", f"DESTDIR={root}"]
    if "BERTH_BUILD" in os.environ:
        args.append(f"BUILD={os.environ['BERTH_BUILD']}")
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"make install failed:\n{r.stdout}\n{r.stderr}"
    assert "no man pages" not in r.stderr, r.stderr
    return root


def render(path):
    """`man -l` of the page as plain text, lines joined where groff hyphenated a word."""
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="",
               MANPAGER="cat", PAGER="cat")
    r = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, env=env,
                       timeout=30)
    assert r.returncode == 0, f"man -l {path}: {r.stderr}"
    assert "warning" not in r.stderr.lower(), r.stderr
    text = re.sub(r".\x08", "", r.stdout)                 # overstrike bold/underline
    return re.sub(r"[\u2010-](?:\n\s+)", "", text)


@pytest.fixture(scope="module")
def pages(staged):
    out = {}
    for name, section in PAGES.items():
        path = staged / PREFIX / "share/man" / f"man{section}" / f"{name}.{section}"
        assert path.is_file(), f"{name}({section}) not installed at {path}"
        out[name] = render(path)
    return out


def words(text):
    return " ".join(text.split())


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_with_its_sections(pages, name):
    text = pages[name]
    headings = [line.strip() for line in text.splitlines() if line and not line[0].isspace()]
    for section in SECTIONS[name]:
        assert section in headings, f"{name}({PAGES[name]}) has no section {section}: {headings}"
    assert f"{name}({PAGES[name]})" in text.splitlines()[0]
    others = [f"{n}({s})" for n, s in PAGES.items() if n != name]
    see_also = words(text.split("SEE ALSO", 1)[1])
    for other in others:
        assert other in see_also, f"{name}: SEE ALSO lacks {other}"


@pytest.mark.parametrize("name", ["berth", "blockd", "vmengine", "diskengine"])
def test_every_option_of_the_help_is_in_the_page(pages, name):
    r = subprocess.run([str(program(name)), "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    options = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", r.stdout))
    assert options, r.stdout
    page = words(pages[name])
    missing = [o for o in sorted(options) if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", page)]
    assert missing == [], f"{name}(8): options of --help not in the man page: {missing}"


def test_every_command_of_berth_help_is_in_berth_1(pages):
    out = subprocess.run([str(program("berth")), "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    page = words(pages["berth"])
    for line in out.splitlines():
        m = re.match(r"^  ([a-z][a-z-]*)(?: ([a-z|]+))?", line)
        if m:
            subs = m.group(2).split("|") if m.group(2) and "|" in m.group(2) else [None]
            for sub in subs:
                cmd = f"{m.group(1)} {sub}" if sub else m.group(1)
                assert re.search(rf"\b{re.escape(cmd)}\b", page) or \
                    (sub and re.search(rf"{m.group(1)} [a-z|]*\b{sub}\b", page)), \
                    f"berth(1) does not document '{cmd}'"


def test_every_key_of_the_configuration_doc_is_in_berth_conf_5(pages):
    doc = (REPO / "docs" / "configuration.md").read_text()
    block = re.search(r"```ini\n(.*?)```", doc, re.S).group(1)
    page = pages["berth.conf"]
    # The page's sections, each with the keys it documents.
    parts = re.split(r"^(\[[a-z]+\])$", page, flags=re.M)
    in_page = {parts[i]: words(parts[i + 1]) for i in range(1, len(parts) - 1, 2)}
    section, checked = None, 0
    for line in block.splitlines():
        m = re.match(r"^(\[[a-z]+\])", line)
        if m:
            section = m.group(1)
            assert section in in_page, f"berth.conf(5) has no section {section}"
            continue
        m = re.match(r"^([a-z_]+) =", line)
        if m:
            assert re.search(rf"\b{m.group(1)} =", in_page[section]), \
                f"berth.conf(5) does not document {section} {m.group(1)}"
            checked += 1
    assert checked > 20


def test_bash_completion_installed(staged):
    path = staged / PREFIX / "share/bash-completion/completions/berth"
    out = subprocess.run([str(program("berth")), "completion", "bash"], capture_output=True,
                         text=True, timeout=10).stdout
    assert path.read_text() == out
    assert "complete -F _berth berth" in out
