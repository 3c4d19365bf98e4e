"""tests/e2e/pg_server.py — a private PostgreSQL server for a scenario test, as
tests/unit/pg_server.c starts one: initdb in a temporary directory (as the postgres user
when run as root), pg_ctl on a Unix socket only (no TCP), fsync off (a test server), one
database for Berth. Skips the test with a visible reason where the server binaries are
missing. stop_fast / start (pg_ctl) and freeze / thaw (SIGSTOP / SIGCONT of the postmaster
and its children) are the outages the scenario puts the fleet through."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

CMD_TIMEOUT = 60


def bindir():
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class PgServer:
    def __init__(self):
        self.bin = bindir()
        if not self.bin or not all(os.access(os.path.join(self.bin, b), os.X_OK)
                                   for b in ("initdb", "pg_ctl", "postgres")):
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
                        "(install the postgresql package: scripts/setup)")
        self.user = "postgres" if _has_user("postgres") else "nobody"
        self.dir = tempfile.mkdtemp(prefix="berth-e2e-pg-")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", self.data, "-U", "berth", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        self.start()
        self._run("createdb", "-h", self.dir, "-U", "berth", "berth")
        self.url = f"postgresql:///berth?host={self.dir}&user=berth"

    def _run(self, prog, *args):
        argv = [os.path.join(self.bin, prog), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=CMD_TIMEOUT)
        assert res.returncode == 0, f"{prog}: {res.stdout}{res.stderr}"

    def start(self):
        opts = (f"-k {self.dir} -c listen_addresses='' -c fsync=off -c full_page_writes=off "
                f"-c shared_buffers=16MB -c max_connections=100")
        self._run("pg_ctl", "start", "-w", "-D", self.data, "-l",
                  os.path.join(self.dir, "server.log"), "-o", opts)

    def stop_fast(self):
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)

    def pids(self):
        """The postmaster and its children."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pm = int(f.readline())
        except (OSError, ValueError):
            return []
        out = [pm]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pm:
                out.append(int(d))
        return out

    def signal(self, sig):
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def freeze(self):
        self.signal(signal.SIGSTOP)

    def thaw(self):
        self.signal(signal.SIGCONT)

    def destroy(self):
        self.thaw()
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data)
        except AssertionError:
            self.signal(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def pg_server():
    server = PgServer()
    yield server
    server.destroy()
