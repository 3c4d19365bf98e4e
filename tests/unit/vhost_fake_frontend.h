/* vhost_fake_frontend.h — blockd's vhost unit-test harness. An in-process fake vhost-user
 * front-end (what QEMU does for a vhost-user-blk device), on the shared front-end library
 * (src/vhost_client): connects to a controller socket, sends vhost-user messages (with
 * descriptors) and reads the replies while driving the control reactor g_blockd.app, owns a
 * memfd of guest memory with one split virtqueue in it, and builds virtio-blk requests in
 * the rings; every protocol failure is an assertion here. And the blockd side: g_blockd with a vhost
 * dir, bdevs and controllers, direct bdev IO, session introspection. Every wait has a
 * deadline. */
#ifndef TESTS_VHOST_FAKE_FRONTEND_H
#define TESTS_VHOST_FAKE_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "bdev.h"
#include "blockd.h"
#include "reactor.h"
#include "rpc_harness.h"
#include "vhost_client.h"
#include "vhost_user_proto.h"
#include "virtio_spec.h"

#define FE_TIMEOUT_MS 2000
#define FE_MEM_SIZE (4u << 20)
/* Guest-physical layout: the rings, then a data area handed out by fe_alloc. */
#define FE_DESC_GPA 0x0ull
#define FE_AVAIL_GPA 0x10000ull
#define FE_USED_GPA 0x20000ull
#define FE_DATA_GPA 0x40000ull
#define FE_QSIZE 128

/* fe_call's answers besides the REPLY_ACK value (0 ok, non-zero refused). */
#define FE_CLOSED VUC_CLOSED

#define FE_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES))
#define FE_PROTOCOL (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)

int64_t fe_now_ms(void);
/* Polls the control reactor until cond holds or ms pass; the value of cond. */
#define FE_WAIT_UNTIL(cond, ms)                                                           \
	__extension__({                                                                   \
		int64_t dl_ = fe_now_ms() + (ms);                                         \
		bool ok_;                                                                 \
		while (!(ok_ = (cond)) && fe_now_ms() < dl_)                              \
			reactor_poll(g_blockd.app, 1);                                    \
		ok_;                                                                      \
	})

struct fe {
	struct vuc vu;               /* the connection (socket, REPLY_ACK negotiated) */
	int memfd;                   /* guest memory, outlives a connection */
	uint8_t *mem;
	size_t mem_size;
	uint16_t qsize;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	int kick_fd, call_fd;
	uint16_t last_used;          /* used entries consumed by fe_wait_used */
	uint16_t next_desc;          /* descriptor allocator (wraps) */
	uint64_t data_next;          /* data area allocator (wraps) */
	uint64_t status_gpa;         /* status byte of the last fe_blk_submit */
};

/* Guest memory (memfd of FE_MEM_SIZE, mapped shared) and eventfds; no connection yet. */
/* Guest memory the way QEMU's memory-backend-memfd makes it: sealed against shrinking. */
int fe_sealed_memfd(const char *name, size_t size);
void fe_init(struct fe *f);
/* Closes the connection (if any) and frees everything. */
void fe_destroy(struct fe *f);

/* Connects to <vhost dir>/<ctrlr> (asserts). Resets the reply-ack state. */
void fe_connect(struct fe *f, const char *ctrlr);
void fe_disconnect(struct fe *f);

/* Sends one message (flags are or-ed into VHOST_USER_VERSION; size may differ from the
 * payload actually sent, which is payload_len bytes). 0 or a negative errno. */
int fe_send_raw(struct fe *f, uint32_t request, uint32_t flags, uint32_t size,
		const void *payload, size_t payload_len, const int *fds, unsigned nfds);
/* Receives one message, polling the app reactor: 1 received (fd: a descriptor that came
 * with it or -1; may be NULL), 0 the connection was closed, -ETIMEDOUT. */
int fe_recv(struct fe *f, struct vhost_user_msg *m, int *fd, int timeout_ms);
/* True when blockd closes the connection within timeout_ms (replies are discarded). */
bool fe_wait_closed(struct fe *f, int timeout_ms);

/* A request without a reply of its own: with acks it is sent with NEED_REPLY and the ack
 * value is returned; FE_CLOSED when the connection closed instead; -ETIMEDOUT. Without
 * acks: 0 once sent, or FE_CLOSED. */
int64_t fe_call(struct fe *f, uint32_t request, const void *payload, uint32_t size,
		const int *fds, unsigned nfds);
/* A request answered with a u64 (GET_FEATURES ...); asserts. */
uint64_t fe_get_u64(struct fe *f, uint32_t request);

/* The usual sequence; each step asserts blockd accepted it. */
void fe_negotiate(struct fe *f, uint64_t features, uint64_t protocol);
void fe_set_mem_table(struct fe *f);
/* SET_VRING_NUM/BASE/ADDR/CALL/KICK for queue 0 of qsize entries; the kick starts it. */
void fe_setup_vring(struct fe *f, uint16_t qsize, uint16_t base);
/* All of it: connect, negotiate, memory, vring (base 0). */
void fe_start(struct fe *f, const char *ctrlr, uint64_t features, uint64_t protocol);

/* Guest memory: gpa -> test pointer, and a fresh 4 KiB-aligned data buffer. */
void *fe_ptr(struct fe *f, uint64_t gpa);
uint64_t fe_alloc(struct fe *f, size_t len);
uint64_t fe_uva(struct fe *f, uint64_t gpa);

/* Descriptor allocation and requests. fe_post publishes head and kicks. */
uint16_t fe_desc_alloc(struct fe *f);
void fe_set_desc(struct fe *f, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next);
void fe_post(struct fe *f, uint16_t head);
/* Waits for the next used element; 0 or -ETIMEDOUT. */
int fe_wait_used(struct fe *f, struct vring_used_elem *e, int timeout_ms);

/* A request header (type, sector) in a fresh buffer; its status byte (pre-set to 0xaa) sits
 * at f->status_gpa. Returns the header's gpa. */
uint64_t fe_blk_header(struct fe *f, uint32_t type, uint64_t sector);
/* A three-descriptor virtio-blk request: header (device-readable), data at data_gpa of len
 * (device-writable when device_writes), status byte (pre-set to 0xaa). Returns the head. */
uint16_t fe_blk_submit(struct fe *f, uint32_t type, uint64_t sector, uint64_t data_gpa,
		       uint32_t len, bool device_writes);
uint8_t fe_status(struct fe *f);
/* Runs one IN/OUT/other request through the queue with buf (copied in for OUT, out for
 * IN/GET_ID); returns the status byte, -ETIMEDOUT; *used_len the used length. */
int fe_blk_io(struct fe *f, uint32_t type, uint64_t sector, void *buf, uint32_t len,
	      uint32_t *used_len);

/* ---- the blockd side */

/* Criterion .init/.fini: rpc_harness_setup plus a temporary vhost dir; teardown shuts the
 * controllers down (vhost_blk_shutdown, which must leave no work for the control thread)
 * and checks no queue is left. */
void vh_setup(void);
void vh_teardown(void);

/* Bytes that depend on seed and on their offset in the bdev. */
void vh_pattern(void *buf, size_t len, uint32_t seed, uint64_t byte_off);
#define VH_PATTERN_BYTES (64u << 10)   /* vh_fill_bdev / vh_check_bdev: the bdev's start */

struct bdev *vh_malloc(const char *name, uint64_t blocks, uint32_t bs);
struct bdev *vh_delay(const char *name, const char *base, uint64_t latency_us);
void vh_ctrlr(const char *name, const char *bdev, bool readonly);

/* Direct bdev IO on the control reactor (asserts success). */
void vh_bdev_rw(struct bdev *b, bool write, void *buf, uint64_t off_bytes, size_t len);
void vh_fill_bdev(struct bdev *b, uint32_t seed);
void vh_check_bdev(struct bdev *b, uint32_t seed, const char *what);

/* vhost_blk_info_json: number of sessions; a member (integer or boolean) of session 0, or
 * -1 without a session. */
size_t vh_session_count(const char *ctrlr);
json_int_t vh_session_int(const char *ctrlr, const char *key);

/* 4 KiB through the queue at byte offset off, checked against / written from the pattern. */
void vh_expect_read(struct fe *f, uint64_t off, uint32_t seed, const char *what);
void vh_write_pattern(struct fe *f, uint64_t off, uint32_t seed, const char *what);
/* Closes the front-end's socket and waits until the controller has no session. */
void vh_close_and_wait(struct fe *f, const char *ctrlr);

#endif
