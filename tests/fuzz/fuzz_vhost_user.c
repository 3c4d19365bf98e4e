/* fuzz_vhost_user.c — libFuzzer target: blockd's vhost-user message handling
 * (vhost/vhost_user_msg.c, vhost_session.c, and through them vhost_mem.c, the inflight
 * region and the queues of vhost_blk_queue.c) fed arbitrary messages and descriptors by a
 * hostile front-end. Per input: a fresh malloc bdev and a session on one end of a socketpair,
 * exactly as a controller hands an accepted connection to vhost_session_create; the
 * harness is the front-end on the other end and the control thread (it polls g_blockd.app),
 * while the queues run on the IO reactor's thread. At the end the session is closed (unless
 * it closed itself), every queue must stop within 10 s, and the target is reset to empty.
 *
 * Input: a list of records. A record is a message, a kick of every kick eventfd the harness
 * holds, or a pause that lets the session and queues run (a turn of the IO reactor, there
 * and back: not a time). A message is a request (one of the known ones, or any number),
 * header flags (version, NEED_REPLY, or any), a size field
 * (the payload's, or any), a payload from the input, and up to 3 descriptors (9 to exceed
 * the limit): sealed memfds of guest memory whose size and first bytes come from the input,
 * an unsealed memfd, eventfds (kept for kicks), /dev/null. Replies (and the descriptors they
 * carry) are read and dropped. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bdev.h"
#include "bdev_malloc.h"
#include "fuzz_blockd.h"
#include "fuzz_util.h"
#include "vhost_blk_queue.h"
#include "vhost_session.h"
#include "vhost_user_proto.h"

#define MAX_KICKS 16
#define MAX_RECORDS 64
#define PAYLOAD_MAX 300
#define MEMFD_FILL_MAX 8192

static const uint32_t g_requests[] = {
	VHOST_USER_GET_FEATURES, VHOST_USER_SET_FEATURES, VHOST_USER_SET_OWNER,
	VHOST_USER_RESET_OWNER, VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_LOG_BASE,
	VHOST_USER_SET_LOG_FD, VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_ADDR,
	VHOST_USER_SET_VRING_BASE, VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_KICK,
	VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_ERR, VHOST_USER_GET_PROTOCOL_FEATURES,
	VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_VRING_ENABLE,
	VHOST_USER_GET_CONFIG, VHOST_USER_SET_CONFIG, VHOST_USER_GET_INFLIGHT_FD,
	VHOST_USER_SET_INFLIGHT_FD, VHOST_USER_RESET_DEVICE, VHOST_USER_GET_MAX_MEM_SLOTS,
};
#define NREQUESTS (sizeof(g_requests) / sizeof(g_requests[0]))

static bool g_closed;
static int g_kicks[MAX_KICKS];
static unsigned g_nkicks;

static struct reactor *queue_reactor(void *owner, unsigned queue_index)
{
	return g_blockd.reactors[0];
}

static void session_closed(void *owner, struct vhost_session *s)
{
	g_closed = true;
}

/* Lets the session handle what was sent and the queues report back. The control reactor
 * looks at its descriptors only when allowed to wait, so it is given 1 ms while the
 * session's socket has input (it returns at once then) and no wait otherwise; input the
 * session holds back waits for the IO reactor's turns (fuzz_blockd_sync), not for time. */
static void pump(int session_fd)
{
	unsigned idle = 0;
	for (int i = 0; i < 64 && idle < 2; i++) {
		struct pollfd p = { .fd = session_fd, .events = POLLIN };
		bool input = !g_closed && poll(&p, 1, 0) > 0;
		int work = reactor_poll(g_blockd.app, input ? 1 : 0);
		if (work > 0)
			idle = 0;
		else if (!input)
			break;
		else {
			idle++;           /* input the session holds back (a queue is stopping) */
			fuzz_blockd_sync();
		}
	}
}

/* Reads and drops every reply waiting on the front-end's end (closing fds they carry). */
static void drain_replies(int sock)
{
	for (;;) {
		char buf[512];
		char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof(control) };
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[VHOST_USER_MAX_FDS];
			if (k > VHOST_USER_MAX_FDS)
				k = VHOST_USER_MAX_FDS;
			memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
			for (size_t j = 0; j < k; j++)
				close(fds[j]);
		}
	}
}

/* One descriptor to send, as the input describes it; -1 when none could be made. */
static int make_fd(struct fuzz_input *in)
{
	uint8_t kind = fuzz_u8(in);
	switch (kind % 4) {
	case 0:
	case 2: {
		bool sealed = kind % 4 == 0;
		size_t size = ((size_t)fuzz_u8(in) + 1) * 4096;   /* up to 1 MiB */
		size_t fill;
		const uint8_t *bytes = fuzz_bytes(in, fuzz_u16(in) % MEMFD_FILL_MAX, &fill);
		int fd = memfd_create("fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
		    (fill && pwrite(fd, bytes, fill < size ? fill : size, 0) < 0) ||
		    (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0))
			abort();
		return fd;
	}
	case 1: {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0)
			abort();
		if (g_nkicks < MAX_KICKS)
			g_kicks[g_nkicks++] = dup(fd);
		return fd;
	}
	default:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	}
}

static void send_message(int sock, struct fuzz_input *in)
{
	uint8_t r = fuzz_u8(in), fl = fuzz_u8(in);
	uint32_t request = r & 0x80 ? (uint32_t)(r & 0x7f) : g_requests[r % NREQUESTS];
	uint32_t flags = VHOST_USER_VERSION | (fl & 1 ? VHOST_USER_NEED_REPLY : 0);
	if (fl & 0x80)
		flags = fuzz_u32(in);
	uint16_t want = fuzz_u16(in) % (PAYLOAD_MAX + 1);
	size_t plen;
	const uint8_t *payload = fuzz_bytes(in, want, &plen);
	uint32_t size = fl & 0x40 ? fuzz_u32(in) : (uint32_t)plen;

	uint8_t spec = fuzz_u8(in);
	unsigned nfds = spec & 0x80 ? VHOST_USER_MAX_FDS + 1 : spec % 4;
	int fds[VHOST_USER_MAX_FDS + 1];
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = make_fd(in);

	uint8_t msg[sizeof(struct vhost_user_header) + PAYLOAD_MAX];
	struct vhost_user_header h = { request, flags, size };
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), payload, plen);
	struct iovec iov = { msg, sizeof(h) + plen };
	char control[CMSG_SPACE(sizeof(int) * (VHOST_USER_MAX_FDS + 1))];
	memset(control, 0, sizeof(control));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	(void)sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_blockd_setup();
	struct fuzz_input in = { data, size };
	uint8_t opts = fuzz_u8(&in);

	struct bdev *b = NULL;
	if (bdev_malloc_create("Malloc0", 2048, opts & 1 ? 4096 : 512, NULL, &b) < 0)
		abort();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	g_closed = false;
	g_nkicks = 0;
	struct vhost_session_owner owner = {
		.name = "fuzz",
		.bdev = b,
		.readonly = opts & 2,
		.control = g_blockd.app,
		.queue_reactor = queue_reactor,
		.closed = session_closed,
	};
	struct vhost_session *s = vhost_session_create(&owner, sv[0], 1);
	if (!s)
		abort();

	for (unsigned r = 0; r < MAX_RECORDS && in.n > 0 && !g_closed; r++) {
		switch (fuzz_u8(&in) % 4) {
		case 0:
		case 1:
			send_message(sv[1], &in);
			break;
		case 2:
			for (unsigned k = 0; k < g_nkicks; k++) {
				uint64_t one = 1;
				(void)!write(g_kicks[k], &one, sizeof(one));
			}
			break;
		case 3:
			fuzz_blockd_sync();
			break;
		}
		pump(sv[0]);
		drain_replies(sv[1]);
		if (!g_closed) {
			json_t *info = vhost_session_info_json(s);
			if (!info)
				abort();
			json_decref(info);
		}
	}

	if (!g_closed) {
		static const enum blk_stop_mode modes[] = { BLK_STOP_ORPHAN, BLK_STOP_FAIL,
							    BLK_STOP_DRAIN };
		vhost_session_close(s, modes[(opts >> 2) % 3], "fuzz input ended");
	}
	close(sv[1]);
	uint64_t deadline = monotonic_ns() + 10ull * 1000000000;
	while (blk_queue_live() > 0 || reactor_poll(g_blockd.app, 0) > 0) {
		if (monotonic_ns() > deadline) {
			fprintf(stderr, "vhost queues did not stop within 10 s of the close\n");
			abort();
		}
		fuzz_blockd_sync();
	}
	for (unsigned k = 0; k < g_nkicks; k++)
		close(g_kicks[k]);
	fuzz_blockd_reset();
	return 0;
}
