"""test_systemd_units.py — the systemd units of dist/systemd: installed with
`make install DESTDIR=...`, checked with `systemd-analyze verify --root` (no systemd as PID 1
needed), their behaviour-bearing lines present and in order, and blockd's ExecStopPost= step
(`berth target-stopped`) run for real against a temporary root, with a fake systemctl that
records what it is asked."""
import os
import pathlib
import shlex
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DIST = REPO / "dist" / "systemd"
UNITDIR = "usr/local/lib/systemd/system"
BERTH = "/usr/local/bin/berth"
STOP_POST = [BERTH, "--root", "/var/lib/berth", "target-stopped"]
UNITS = ["berth-blockd.service", "berth-diskengine.service", "berth-vmengine.service"]
MARKERS = ["diskengine/TARGET_RESTART", "vmengine/TARGET_RESTART"]
RESTART_ENGINES = "restart --no-block berth-vmengine.service berth-diskengine.service"


def parse_unit(path):
    """[(section, key, value)] in file order; comments and blank lines dropped."""
    entries, section = [], None
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(entries, section, key):
    return [v for s, k, v in entries if s == section and k == key]


def one(entries, section, key):
    found = values(entries, section, key)
    assert len(found) == 1, f"[{section}] {key}= expected once, found {found}"
    return found[0]


def exec_argv(value):
    """An Exec*= value as argv, without systemd's prefixes (-, @, +, !)."""
    assert "%" not in value and "$" not in value, f"unexpected specifier in {value!r}"
    argv = shlex.split(value)
    argv[0] = argv[0].lstrip("-@+!:")
    return argv


def analyze_bin():
    path = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not os.access(path, os.X_OK):
        pytest.fail("systemd-analyze is not installed: run scripts/setup "
                    "(it installs the Debian package systemd)")
    return path


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A root with `make install` in it, plus what `systemd-analyze verify --root` needs from
    the host: the standard units (multi-user.target, ...) and the commands the units run."""
    analyze_bin()
    root = tmp_path_factory.mktemp("destdir")
    args = ["make", "-C", str(REPO), "--no-print-directory", "install", f"DESTDIR={root}"]
    if "BERTH_BUILD" in os.environ:
        args.append(f"BUILD={os.environ['BERTH_BUILD']}")
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, f"make install failed:\n{r.stdout}\n{r.stderr}"
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
    for unit in UNITS:
        for _, key, value in parse_unit(root / UNITDIR / unit):
            if key.startswith("Exec"):
                exe = exec_argv(value)[0]
                if not exe.startswith("/usr/local/") and os.path.exists(exe):
                    dest = root / exe.lstrip("/")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(os.path.realpath(exe), dest)
    return root


def verify(root, units=UNITS):
    """Problems found in the installed units: systemd-analyze's complaints (warnings count:
    it ignores a bad line and says so, exit status 0) and Exec*= commands it does not check
    (it looks at the first command of each list only)."""
    r = subprocess.run([analyze_bin(), "verify", f"--root={root}", *units],
                       capture_output=True, text=True)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    if r.returncode != 0:
        problems.append(f"systemd-analyze verify exited with {r.returncode}")
    for unit in units:
        for _, key, value in parse_unit(root / UNITDIR / unit):
            if key.startswith("Exec"):
                exe = root / exec_argv(value)[0].lstrip("/")
                if not os.access(exe, os.X_OK):
                    problems.append(f"{unit}: {key}= command {exe} is not executable")
    return problems


def test_make_install_layout(staged):
    for name in ("blockd", "diskengine", "vmengine"):
        assert os.access(staged / "usr/local/bin" / name, os.X_OK), name
    for unit in UNITS:
        assert (staged / UNITDIR / unit).read_text() == (DIST / unit).read_text()
    assert os.access(staged / BERTH.lstrip("/"), os.X_OK)
    assert not (staged / "usr/local/libexec/berth").exists()   # no helper script any more


def test_units_verify(staged):
    assert verify(staged) == []


@pytest.mark.parametrize("unit, old, new", [
    ("berth-vmengine.service", "KillMode=process", "KillMode=proces"),
    ("berth-blockd.service", "RestartSec=1", "RestartSec=1x"),
    ("berth-diskengine.service", "Restart=always", "Restrat=always"),
    ("berth-blockd.service", "WatchdogSec=15", "WatchdogSec=15x"),
    ("berth-vmengine.service", "Type=notify", "Type=notifyy"),
    ("berth-blockd.service", "/usr/local/bin/blockd", "/usr/local/bin/blockd-missing"),
    ("berth-blockd.service", BERTH, BERTH + "-missing"),
])
def test_verify_catches_broken_unit(staged, tmp_path, unit, old, new):
    root = tmp_path / "root"
    shutil.copytree(staged, root, symlinks=True)
    path = root / UNITDIR / unit
    lines = path.read_text().splitlines(keepends=True)
    hit = next(i for i, line in enumerate(lines) if not line.startswith("#") and old in line)
    lines[hit] = lines[hit].replace(old, new)
    path.write_text("".join(lines))
    assert verify(root) != []


def test_behaviour_lines():
    units = {u: parse_unit(DIST / u) for u in UNITS}
    for u, e in units.items():
        assert one(e, "Service", "Restart") == "always", u
        assert float(one(e, "Service", "RestartSec")) > 0, u
        assert one(e, "Service", "Environment") == "BERTH_ROOT=/var/lib/berth", u
        assert one(e, "Install", "WantedBy") == "multi-user.target", u
        # sd_notify: READY=1 when serving, watchdog pings while the loops make progress
        # (tests/e2e/test_sd_notify.py); NotifyAccess stays main (QEMU is not heard).
        assert one(e, "Service", "Type") == "notify", u
        assert float(one(e, "Service", "WatchdogSec")) > 0, u
        assert values(e, "Service", "NotifyAccess") == [], u
    blockd = units["berth-blockd.service"]
    assert one(blockd, "Service", "RestartSec") == "1"
    # A listing of diskengine's may hold its loop for rpc_timeout (30 s by default).
    assert float(one(units["berth-diskengine.service"], "Service", "WatchdogSec")) > 30
    assert exec_argv(one(blockd, "Service", "ExecStart")) == [
        "/usr/local/bin/blockd", "-r", "/var/lib/berth/blockd/rpc.sock",
        "-S", "/var/lib/berth/blockd/vhost", "--persist", "/var/lib/berth/blockd/config.json"]
    assert values(blockd, "Service", "ExecStartPre") == []   # blockd removes stale sockets
    for name in ("diskengine", "vmengine"):
        e = units[f"berth-{name}.service"]
        assert exec_argv(one(e, "Service", "ExecStart")) == [
            f"/usr/local/bin/{name}", "--root", "/var/lib/berth"]
        assert "berth-blockd.service" in one(e, "Unit", "After").split()
        assert "berth-blockd.service" in one(e, "Unit", "Wants").split()
    assert one(units["berth-vmengine.service"], "Service", "KillMode") == "process"

    # ExecStopPost: one command, the same code as berth up's supervisor (markers, then the
    # engines' restart).
    post = [exec_argv(v) for v in values(blockd, "Service", "ExecStopPost")]
    assert post == [STOP_POST]


FAKE_SYSTEMCTL = """#!/bin/sh
# Records each call, with the markers present at that moment; answers list-jobs from $FAKE_JOBS.
echo "$* | markers:$(cd "$FAKE_ROOT" && ls -d */TARGET_RESTART 2>/dev/null | tr '\\n' ' ')" \\
    >> "$FAKE_LOG"
case "$1" in
list-jobs) [ -z "${FAKE_JOBS_FAIL:-}" ] || exit 1; printf '%s' "${FAKE_JOBS:-}" ;;
restart) [ -z "${FAKE_RESTART_FAIL:-}" ] || exit 1 ;;
esac
"""


def run_stop_post(tmp_path, staged_root, service_result, exit_code, exit_status, **fake):
    """blockd's ExecStopPost= commands in order, /var/lib/berth rewritten to a temporary root;
    returns (root, the fake systemctl's calls)."""
    root = tmp_path / "berth"
    root.mkdir()
    (root / "blockd").mkdir()
    log = tmp_path / "systemctl.log"
    log.touch()
    fake_bin = tmp_path / "systemctl"
    fake_bin.write_text(FAKE_SYSTEMCTL)
    fake_bin.chmod(0o755)
    env = dict(os.environ, SERVICE_RESULT=service_result, EXIT_CODE=exit_code,
               EXIT_STATUS=exit_status, BERTH_SYSTEMCTL=str(fake_bin), FAKE_ROOT=str(root),
               FAKE_LOG=str(log), **fake)
    for value in values(parse_unit(DIST / "berth-blockd.service"), "Service", "ExecStopPost"):
        argv = [a.replace("/var/lib/berth", str(root)) for a in exec_argv(value)]
        if argv[0] == BERTH:
            argv[0] = str(staged_root / BERTH.lstrip("/"))
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"{argv} failed: {r.stderr}"
    return root, log.read_text().splitlines()


BOTH = "markers:diskengine/TARGET_RESTART vmengine/TARGET_RESTART "


@pytest.mark.parametrize("result, code, status", [
    ("signal", "killed", "SEGV"),
    ("core-dump", "dumped", "ABRT"),
    ("exit-code", "exited", "1"),
    ("watchdog", "killed", "ABRT"),
])
def test_stop_post_after_crash_restarts_engines(staged, tmp_path, result, code, status):
    root, calls = run_stop_post(tmp_path, staged, result, code, status,
                                FAKE_JOBS="9 berth-blockd.service stop running\n")
    for m in MARKERS:
        assert (root / m).exists()
    # A crash restarts the engines without asking systemd anything first.
    assert calls == [f"{RESTART_ENGINES} | {BOTH}"]


@pytest.mark.parametrize("jobs, restart", [
    ("9 berth-blockd.service stop running\n", False),      # systemctl stop, shutdown
    ("9 berth-blockd.service restart running\n", True),    # systemctl restart berth-blockd
    ("", True),                                            # blockd exited, nobody asked
    ("4 berth-diskengine.service stop waiting\n", True),   # someone else's stop job
])
def test_stop_post_after_clean_exit(staged, tmp_path, jobs, restart):
    root, calls = run_stop_post(tmp_path, staged, "success", "exited", "0", FAKE_JOBS=jobs)
    for m in MARKERS:
        assert (root / m).exists()
    assert calls[0].startswith("list-jobs --no-legend berth-blockd.service | ")
    assert calls[1:] == ([f"{RESTART_ENGINES} | {BOTH}"] if restart else [])


def test_stop_post_when_systemd_does_not_answer(staged, tmp_path):
    """list-jobs fails: err on the side of recovery; a failed restart is not the unit's
    failure (the markers are written, the engines take them at their next start)."""
    root, calls = run_stop_post(tmp_path, staged, "success", "killed", "TERM",
                                FAKE_JOBS_FAIL="1", FAKE_RESTART_FAIL="1")
    for m in MARKERS:
        assert (root / m).exists()
    assert [c.split(" | ")[0] for c in calls] == [
        "list-jobs --no-legend berth-blockd.service", RESTART_ENGINES]
