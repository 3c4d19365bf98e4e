"""test_blockd_spdk_rpc.py — blockd driven with the exact requests SPDK's current rpc.py sends
(tests/e2e/fixtures/spdk_rpc/*.json, written from SPDK's schema and command line; see the
README there): every documented parameter at its default is accepted, one blockd cannot honour
is refused with -32602 naming it, an unknown key stays refused, and each fixture leaves blockd
as it found it. Also: every SPDK method blockd serves is exercised by some fixture."""
import json
import pathlib

import pytest

from berth_rpc import RpcClient

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "spdk_rpc"
MiB = 1024 * 1024

# blockd's own methods, which SPDK's client does not know.
BLOCKD_ONLY = {"save_config", "blockd_get_requests"}


def fixture_files():
    return sorted(FIXTURES.glob("*.json"))


def substitute(value, tmp):
    if isinstance(value, str):
        return value.replace("@DIR@", str(tmp))
    if isinstance(value, list):
        return [substitute(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, tmp) for k, v in value.items()}
    return value


def send_as_rpc_py(sock_path, request, timeout=10.0):
    """One connection per request, the request pretty-printed with indent 2, as rpc.py does;
    returns the reply object."""
    with RpcClient(sock_path, timeout=timeout) as c:
        c.send_raw(json.dumps(request, indent=2).encode())
        return c.read_value()


def entry_names(result):
    items = result["bdevs"] if isinstance(result, dict) and "bdevs" in result else result
    assert isinstance(items, list), result
    return [e.get("name", e.get("ctrlr", e.get("subsystem"))) for e in items]


def check(step, reply):
    where = f"{step.get('cli', '')} {json.dumps(step['request'])}"
    assert reply.get("id") == step["request"]["id"], where
    expect = step["expect"]
    if "error" in expect:
        assert "error" in reply, f"{where}: expected an error, got {reply}"
        err = reply["error"]
        assert err["code"] == expect["error"]["code"], f"{where}: {err}"
        assert expect["error"]["names"] in err["message"], f"{where}: {err}"
        assert "\n" not in err["message"], err
        return
    assert "error" not in reply, f"{where}: {reply['error']}"
    result = reply["result"]
    if "result" in expect:
        assert result == expect["result"], f"{where}: {result}"
    elif "names" in expect:
        assert entry_names(result) == expect["names"], f"{where}: {result}"
    elif "methods" in expect:
        assert [e["method"] for e in result] == expect["methods"], f"{where}: {result}"
    elif "keys" in expect:
        assert isinstance(result, dict) and set(expect["keys"]) <= set(result), where
    else:
        assert expect == {"ok": True}, f"{where}: unknown expectation {expect}"


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_spdk_rpc_py_requests(blockd, tmp_path, path):
    fixture = json.loads(path.read_text())
    for name in fixture.get("files", []):
        with open(tmp_path / name, "wb") as f:
            f.truncate(64 * MiB)
    for step in fixture["steps"]:
        step = substitute(step, tmp_path)
        check(step, send_as_rpc_py(blockd.sock, step["request"]))
    # every fixture cleans up after itself; the refusals above created nothing
    assert blockd.call("bdev_get_bdevs") == []
    assert blockd.call("vhost_get_controllers") == []
    assert blockd.proc.poll() is None


def test_every_spdk_method_blockd_serves_has_a_fixture(blockd):
    served = set(blockd.call("rpc_get_methods"))
    covered = set()
    for path in fixture_files():
        for step in json.loads(path.read_text())["steps"]:
            if "cli" in step and "error" not in step["expect"]:
                covered.add(step["request"]["method"])
    missing = sorted(m for m in served - covered - BLOCKD_ONLY if not m.startswith("blockd_"))
    assert missing == [], f"methods without an accepted rpc.py request in a fixture: {missing}"


def test_refused_parameters_leave_the_connection_usable(blockd):
    """A refusal is an ordinary answer: the same connection takes the next request."""
    with RpcClient(blockd.sock) as c:
        for _ in range(3):
            c.send_raw(json.dumps({"jsonrpc": "2.0", "method": "bdev_malloc_create", "id": 7,
                                   "params": {"num_blocks": 8, "block_size": 512,
                                              "name": "Z", "md_size": 8}}).encode())
            reply = c.read_value()
            assert reply["error"]["code"] == -32602 and "md_size" in reply["error"]["message"]
        assert c.call("bdev_get_bdevs") == []
    # a hostile value of every shape, at a compat key: refused, never a crash
    for bad in [None, [], {}, "x" * 5000, -1, 2**63 - 1, 1.5, True]:
        reply = send_as_rpc_py(blockd.sock, {"jsonrpc": "2.0", "method": "bdev_null_create",
                                             "id": 1, "params": {"name": "Z", "num_blocks": 8,
                                                                 "block_size": 512,
                                                                 "optimal_write_size": bad}})
        assert reply["error"]["code"] == -32602, reply
        assert "optimal_write_size" in reply["error"]["message"], reply
        assert len(reply["error"]["message"]) < 200
    assert blockd.call("bdev_get_bdevs") == []
