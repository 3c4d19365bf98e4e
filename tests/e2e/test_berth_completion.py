"""test_berth_completion.py — `berth completion bash`: the script is true to the CLI (every
command, subcommand and option the usage texts name is completed) and works: bash sources it
and completes commands, subcommands, options, option values, VM names (read from
`berth vm list` on the --root given on the line; never on a root without a store, which
`vm list` would create) and host names after `vm migrate VM --to` (from `berth host
list`, the same way)."""
import re
import subprocess

import pytest

from conftest import BUILD

BERTH = BUILD / "src" / "cli" / "berth"
GENERATED = BUILD / "dist" / "bash-completion" / "berth"


def berth(*args, root=None, check=True):
    argv = [str(BERTH)] + (["--root", str(root)] if root else []) + list(map(str, args))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if check:
        assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r


@pytest.fixture(scope="module")
def script():
    return berth("completion", "bash").stdout


def spec(script):
    """{path: (subs, {option: kind or None}, args)} from the script's _berth_spec."""
    out = {}
    arm = re.compile(r"^\t'([^']*)'\) subs='([^']*)' opts='([^']*)' args='([^']*)' ;;$", re.M)
    for path, subs, opts, args in arm.findall(script):
        options = {}
        for o in opts.split():
            name, _, kind = o.partition("=")
            options[name] = kind or None
        out[path] = (subs.split(), options, args.split())
    return out


def complete(script, words, env=None):
    """COMPREPLY for the line `words` (the last one is the word being completed)."""
    words = [str(BERTH)] + list(map(str, words))
    line = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    prog = (f"source /dev/stdin <<'EOS'\n{script}\nEOS\n"
            f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _berth; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True,
                       timeout=20, env=env)
    assert r.returncode == 0, r.stderr
    return sorted(x for x in r.stdout.splitlines() if x)


def test_generated_at_build_time_is_the_commands_output(script):
    assert GENERATED.read_text() == script


def test_script_is_valid_bash(script):
    r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr


def test_every_command_and_option_of_the_usage_texts_is_completed(script):
    s = spec(script)
    top = berth("--help").stdout
    commands = set()
    for line in top.splitlines():
        m = re.match(r"^  ([a-z][a-z-]*)(?: ([a-z|]+))?", line)
        if not m:
            continue
        cmd = m.group(1)
        commands.add(cmd)
        assert cmd in s[""][0], f"berth --help names '{cmd}', the completion does not"
        words = re.split(r"\s{2,}", line.strip())[0].split()      # the synopsis, not its gloss
        if m.group(2) and "|" in m.group(2):        # "vm list|show|start ..."
            for sub in m.group(2).split("|"):
                assert sub in s[cmd][0], f"berth --help names '{cmd} {sub}'"
        for opt in re.findall(r"--[a-z-]+", " ".join(words[1:])):
            target = cmd
            if len(words) > 1 and words[1] in s[cmd][0]:
                target = f"{cmd} {words[1]}"
            assert opt in s[target][1], f"berth --help: '{cmd} ... {opt}'"
    assert set(s[""][0]) == commands, "the completion offers a command berth --help does not name"
    for opt in re.findall(r"--[a-z-]+", top.splitlines()[0]):
        assert opt in s[""][1], opt

    # berth vm --help: one synopsis per subcommand (a continuation line belongs to the one above).
    current = None
    for line in berth("vm", "--help").stdout.splitlines():
        m = re.match(r"^\s*(?:usage: )?berth vm ([a-z|]+)", line)
        if m:
            current = m.group(1).split("|")
            for sub in current:
                assert sub in s["vm"][0], f"berth vm --help names 'vm {sub}'"
        elif not line.startswith("      "):
            current = None
        for opt in re.findall(r"--[a-z-]+", line):
            for sub in current or []:
                assert opt in s[f"vm {sub}"][1], f"berth vm --help: 'vm {sub} ... {opt}'"

    for opt in re.findall(r"--[a-z-]+", berth("doctor", "--help").stdout):
        assert opt in s["doctor"][1], f"berth doctor --help: {opt}"
    # Each command's one-line usage (given for a bad option).
    for cmd in ("init", "up", "down", "status", "events", "rpc", "qmp", "completion"):
        usage = berth(cmd, "--no-such-option", "x", "y", "z", root="/nonexistent",
                      check=False).stderr
        for opt in re.findall(r"--[a-z-]+", usage):
            if opt != "--no-such-option":
                assert opt in s[cmd][1], f"berth {cmd}: {usage}"


def test_completes_commands_options_and_values(script, tmp_path):
    assert complete(script, ["v"]) == ["vm", "volume"]
    assert complete(script, ["--"]) == ["--help", "--json", "--root", "--version"]
    assert complete(script, ["vm", "s"]) == ["show", "start", "stop"]
    assert complete(script, ["vm", "create", "web", "--l"]) == ["--layout"]
    assert complete(script, ["vm", "create", "web", "--layout", ""]) == [
        "raid0", "raid1", "single"]
    assert complete(script, ["vm", "create", "web", "--vcpus", ""]) == []
    assert complete(script, ["vm", "wait", "1", "--state", "TERM"]) == [
        "TERMINATED", "TERMINATING"]
    assert complete(script, ["--json", "volume", ""]) == ["list"]
    assert complete(script, ["completion", ""]) == ["bash"]
    (tmp_path / "dirA").mkdir()
    (tmp_path / "fileB").write_text("")
    assert complete(script, ["--root", f"{tmp_path}/d"]) == [f"{tmp_path}/dirA"]
    assert complete(script, ["doctor", "--bundle", f"{tmp_path}/f"]) == [f"{tmp_path}/fileB"]


def test_completes_vm_names_from_the_root_on_the_line(script, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "k").write_text("")
    (root / "berth.conf").write_text(
        f"[berth]\nguest_kernel = {tmp_path}/k\nguest_initrd = {tmp_path}/k\n")
    for name in ("web", "db", "worker"):
        berth("vm", "create", name, root=root)
    assert complete(script, ["--root", root, "vm", "show", ""]) == ["db", "web", "worker"]
    assert complete(script, ["--root", root, "vm", "stop", "w"]) == ["web", "worker"]
    assert complete(script, ["--root", root, "qmp", ""]) == ["db", "web", "worker"]
    assert complete(script, ["--root", root, "qmp", "web", ""]) == []
    assert complete(script, ["--root", root, "events", "--vm", "d"]) == ["db"]
    assert complete(script, ["vm", "show", ""], env={"BERTH_ROOT": str(root),
                                                     "PATH": "/usr/bin:/bin"}) == [
        "db", "web", "worker"]
    # Host names after `vm migrate VM --to`, from the store's hosts (as vmengines register).
    import sqlite3
    with sqlite3.connect(str(root / "store.db")) as c:
        for name in ("alpha", "beta", "bravo"):
            c.execute("INSERT INTO hosts (name, registered_ms, seen_ms) VALUES (?, 0, 0)",
                      (name,))
    assert complete(script, ["--root", root, "vm", "migrate", "web", "--to", ""]) == [
        "alpha", "beta", "bravo"]
    assert complete(script, ["--root", root, "vm", "migrate", "web", "--to", "b"]) == [
        "beta", "bravo"]
    # An empty root: nothing offered, and no store created by completing.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert complete(script, ["--root", empty, "vm", "show", ""]) == []
    assert complete(script, ["--root", empty, "vm", "migrate", "x", "--to", ""]) == []
    assert list(empty.iterdir()) == []
