"""berth_rpc.py — a minimal JSON-RPC 2.0 client over a Unix socket, speaking SPDK's dialect the
way an operator's script (or SPDK's rpc.py) would: one request at a time, replies read as a
stream of JSON values, and a deadline on every call."""
import json
import socket
import time


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RpcClient:
    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.next_id = 1

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if self.sock is None:
            self.connect()
        self.sock.sendall(data)

    def read_value(self, timeout=None):
        """Returns the next JSON value the server sent, or raises TimeoutError / EOFError."""
        deadline = time.monotonic() + (timeout or self.timeout)
        decoder = json.JSONDecoder()
        while True:
            text = self.buf.decode("utf-8", errors="strict").lstrip()
            if text:
                try:
                    value, end = decoder.raw_decode(text)
                    self.buf = text[end:].encode()
                    return value
                except json.JSONDecodeError:
                    pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply before the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError("no reply before the deadline") from e
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def call(self, method, params=None, timeout=None):
        req = {"jsonrpc": "2.0", "method": method, "id": self.next_id}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        self.send_raw(json.dumps(req, indent=2).encode())
        while True:
            reply = self.read_value(timeout)
            if reply.get("id") == req["id"]:
                break
        if "error" in reply:
            raise RpcError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate until it returns a true value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
