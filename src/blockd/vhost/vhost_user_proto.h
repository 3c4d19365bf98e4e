/* vhost_user_proto.h — the vhost-user protocol as QEMU's docs/interop/vhost-user.rst defines it:
 * message header, request numbers, protocol feature bits and payload layouts, including the
 * split-ring inflight region. Protocol definitions only; no logic. */
#ifndef BLOCKD_VHOST_USER_PROTO_H
#define BLOCKD_VHOST_USER_PROTO_H

#include <stdint.h>

#define VHOST_USER_VERSION      0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY_MASK   (1u << 2)
#define VHOST_USER_NEED_REPLY   (1u << 3)

#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* Virtio feature bit: the back-end logs the guest pages it writes (live migration). */
#define VHOST_F_LOG_ALL 26
/* SET_VRING_ADDR flags: bit 0, log the ring's used-ring writes at log_guest_addr. */
#define VHOST_VRING_F_LOG 0
/* The dirty log: one bit per page of this size, bit (page % 8) of byte (page / 8). */
#define VHOST_LOG_PAGE 0x1000ull

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
};

enum vhost_user_protocol_feature {
	VHOST_USER_PROTOCOL_F_MQ = 0,
	VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1,
	VHOST_USER_PROTOCOL_F_REPLY_ACK = 3,
	VHOST_USER_PROTOCOL_F_CONFIG = 9,
	VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD = 12,
	VHOST_USER_PROTOCOL_F_RESET_DEVICE = 13,
};

#define VHOST_USER_MAX_RAM_SLOTS 8
#define VHOST_USER_MAX_FDS 8
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_CONFIG_MAX 256

struct vhost_user_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MAX_RAM_SLOTS];
} __attribute__((packed));

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_CONFIG_MAX];
} __attribute__((packed));

/* SET_LOG_BASE with LOG_SHMFD: the log is [mmap_offset, + mmap_size) of the fd that comes
 * with the message; its byte 0 holds the bits of guest-physical pages 0..7. */
struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};          /* not packed: 24 bytes on the wire, as QEMU sends it */

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
	struct vhost_user_log log;
};

struct vhost_user_msg {
	struct vhost_user_header hdr;
	union vhost_user_payload payload;
} __attribute__((packed));

/* The split-ring inflight region: one of these per queue, back to back, each aligned to
 * INFLIGHT_ALIGN. A descriptor head is marked inflight when the back-end takes it from the
 * avail ring, and cleared after its used element is published; last_batch_head and used_idx
 * let a restarted back-end repair the one entry a crash may have left between the two. */
struct inflight_desc_split {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct inflight_queue_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct inflight_desc_split desc[];
};

#define INFLIGHT_VERSION 1
#define INFLIGHT_ALIGN 64

#endif
