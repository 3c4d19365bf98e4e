"""tests/e2e/test_blockd_sockets.py — blockd unlinks only the sockets it created.

A socket file that another process put at blockd's RPC socket path, or at a controller's
vhost-user socket path (a second blockd on the same paths, an operator), survives blockd
deleting the controller and stopping: blockd compares the file it bound (device and inode)
with what is on disk before it unlinks.
"""
import os
import socket


def replace_with_own_socket(path):
    os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return s


def test_blockd_leaves_a_socket_it_did_not_create(blockd):
    blockd.call("bdev_malloc_create", {"name": "m0", "num_blocks": 2048, "block_size": 512})
    blockd.call("vhost_create_blk_controller", {"ctrlr": "c0", "dev_name": "m0"})
    vhost = os.path.join(blockd.vhost_dir, "c0")
    assert os.path.exists(vhost)
    other_vhost = replace_with_own_socket(vhost)
    ino = os.stat(vhost).st_ino
    blockd.call("vhost_delete_controller", {"ctrlr": "c0"})
    assert os.path.exists(vhost) and os.stat(vhost).st_ino == ino, \
        "blockd unlinked a vhost socket it did not create"

    # Its own socket, when it is still the one on disk, goes as before.
    blockd.call("vhost_create_blk_controller", {"ctrlr": "c1", "dev_name": "m0"})
    blockd.call("vhost_delete_controller", {"ctrlr": "c1"})
    assert not os.path.exists(os.path.join(blockd.vhost_dir, "c1"))

    other_rpc = replace_with_own_socket(blockd.sock)
    ino = os.stat(blockd.sock).st_ino
    blockd.proc.send_signal(15)
    assert blockd.proc.wait(30) == 0
    assert os.path.exists(blockd.sock) and os.stat(blockd.sock).st_ino == ino, \
        "blockd unlinked an RPC socket it did not create"
    other_vhost.close()
    other_rpc.close()
