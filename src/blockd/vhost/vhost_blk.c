/* vhost_blk.c — vhost-user-blk controllers (see vhost_blk.h): the registry, the listening
 * sockets, which reactors serve a controller's queues, and the never-blocking delete: a
 * connected front-end makes delete answer -EBUSY at once, or with force be failed and
 * disconnected first.
 * Owns the rule "Export removal never blocks" of docs/architecture.md (bug class 1).
 */
#include "vhost_blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "blockd.h"
#include "log.h"
#include "vhost_session.h"
#include "sock_file.h"

#define SHUTDOWN_WAIT_MS 3000

/* The process: its control reactor, IO reactors and vhost dir (vhost_blk_init). */
static const struct blockd *g_app;

struct vhost_blk_ctrlr {
	char name[VHOST_CTRLR_NAME_MAX + 1];
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sock_file bound;         /* unlinked on delete only if still ours */
	char cpumask[24];
	struct bdev *bdev;
	bool readonly;
	struct reactor *reactors[BLOCKD_MAX_REACTORS];   /* those the cpumask selects */
	unsigned num_reactors, first_reactor;
	int listen_fd;
	struct reactor_fd *listen_watch;
	struct vhost_session *session;
	unsigned next_session_id;
	struct vhost_blk_ctrlr *next;
};

static struct vhost_blk_ctrlr *g_ctrlrs;
static unsigned g_ctrlr_count;

struct vhost_blk_ctrlr *vhost_blk_find(const char *name)
{
	for (struct vhost_blk_ctrlr *c = g_ctrlrs; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void vhost_blk_foreach(void (*fn)(struct vhost_blk_ctrlr *c, void *arg), void *arg)
{
	for (struct vhost_blk_ctrlr *c = g_ctrlrs; c; c = c->next)
		fn(c, arg);
}

static bool valid_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > VHOST_CTRLR_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

void vhost_blk_init(const struct blockd *app)
{
	g_app = app;
}

/* "0x3" / "3": a hex mask of IO reactors. NULL: all of them. */
static int parse_cpumask(struct vhost_blk_ctrlr *c, const char *mask)
{
	uint64_t bits = g_app->num_reactors >= 64 ? ~0ull
						    : (1ull << g_app->num_reactors) - 1;
	if (mask) {
		const char *p = mask;
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
			p += 2;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 16);
		if (!*p || *end || errno || v == 0 || (v & ~bits))
			return -EINVAL;
		bits = v;
	}
	c->num_reactors = 0;
	for (unsigned i = 0; i < g_app->num_reactors; i++)
		if (bits & (1ull << i))
			c->reactors[c->num_reactors++] = g_app->reactors[i];
	if (c->num_reactors == 0)
		return -EINVAL;
	snprintf(c->cpumask, sizeof(c->cpumask), "0x%llx", (unsigned long long)bits);
	return 0;
}

/* ---------------------------------------------------------------- sessions */

static struct reactor *queue_reactor(void *owner, unsigned queue_index)
{
	struct vhost_blk_ctrlr *c = owner;
	return c->reactors[(c->first_reactor + queue_index) % c->num_reactors];
}

static void session_closed(void *owner, struct vhost_session *s)
{
	struct vhost_blk_ctrlr *c = owner;
	if (c->session == s)
		c->session = NULL;
}

static void on_connect(void *arg, uint32_t events)
{
	struct vhost_blk_ctrlr *c = arg;
	(void)events;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (c->session) {
		log_warn("vhost", "msg=\"second front-end refused; one is connected\" ctrlr=%s",
			 c->name);
		close(fd);
		return;
	}
	struct vhost_session_owner owner = {
		.name = c->name,
		.bdev = c->bdev,
		.readonly = c->readonly,
		.control = g_app->app,
		.queue_reactor = queue_reactor,
		.drain_timeout_ms = g_app->opts.drain_timeout_ms,
		.closed = session_closed,
		.owner = c,
	};
	c->session = vhost_session_create(&owner, fd, c->next_session_id++);
}

/* ---------------------------------------------------------------- create, delete */

static int open_socket(struct vhost_blk_ctrlr *c)
{
	struct stat st;
	if (lstat(c->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(c->socket_path);     /* a socket left by a blockd that died */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, c->socket_path, strlen(c->socket_path) + 1);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0 ||
	    chmod(c->socket_path, 0600) < 0) {
		int err = -errno;
		close(fd);
		unlink(c->socket_path);
		return err;
	}
	sock_file_note(&c->bound, c->socket_path);
	c->listen_fd = fd;
	return 0;
}

int vhost_blk_create(const char *name, const char *bdev_name, bool readonly,
		     const char *cpumask)
{
	if (!valid_name(name))
		return -EINVAL;
	if (vhost_blk_find(name))
		return -EEXIST;
	struct bdev *b = bdev_find(bdev_name);
	if (!b)
		return -ENODEV;
	if (bdev_claimed_by(b))
		return -EBUSY;
	struct vhost_blk_ctrlr *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name);
	int n = snprintf(c->socket_path, sizeof(c->socket_path), "%s/%s", g_app->opts.vhost_dir,
			 name);
	int rc = n < 0 || (size_t)n >= sizeof(c->socket_path) ? -ENAMETOOLONG
							      : parse_cpumask(c, cpumask);
	if (rc == 0)
		rc = open_socket(c);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->listen_watch = reactor_fd_add(g_app->app, c->listen_fd, EPOLLIN, on_connect, c);
	if (!c->listen_watch || bdev_claim(b, "vhost_blk", c) < 0) {
		if (c->listen_watch)
			reactor_fd_remove(g_app->app, c->listen_watch);
		close(c->listen_fd);
		unlink(c->socket_path);
		free(c);
		return -ENOMEM;
	}
	c->bdev = b;
	c->readonly = readonly;
	c->first_reactor = g_ctrlr_count++;
	struct vhost_blk_ctrlr **tail = &g_ctrlrs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = c;
	log_info("vhost", "msg=\"controller created\" ctrlr=%s bdev=%s socket=%s readonly=%d "
		 "cpumask=%s", c->name, bdev_name, c->socket_path, readonly, c->cpumask);
	return 0;
}

static void ctrlr_destroy(struct vhost_blk_ctrlr *c)
{
	reactor_fd_remove(g_app->app, c->listen_watch);
	close(c->listen_fd);
	sock_file_unlink(&c->bound, c->socket_path);
	bdev_release(c->bdev);
	for (struct vhost_blk_ctrlr **pp = &g_ctrlrs; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	free(c);
}

int vhost_blk_delete(const char *name, bool force)
{
	struct vhost_blk_ctrlr *c = vhost_blk_find(name);
	if (!c)
		return -ENODEV;
	if (c->session) {
		if (!force)
			return -EBUSY;
		vhost_session_close(c->session, BLK_STOP_FAIL, "controller deleted with force");
	}
	log_info("vhost", "msg=\"controller deleted\" ctrlr=%s", c->name);
	ctrlr_destroy(c);
	return 0;
}

void vhost_blk_recheck_holds(void)
{
	for (struct vhost_blk_ctrlr *c = g_ctrlrs, *next; c; c = next) {
		next = c->next;
		if (c->session)
			vhost_session_recheck_hold(c->session);
	}
}

/* ---------------------------------------------------------------- introspection */

json_t *vhost_blk_info_json(const struct vhost_blk_ctrlr *c)
{
	json_t *sessions = json_array();
	if (c->session)
		json_array_append_new(sessions, vhost_session_info_json(c->session));
	return json_pack("{s:s, s:s, s:i, s:i, s:s, s:o, s:{s:{s:b, s:s, s:s}}}",
			 "ctrlr", c->name, "cpumask", c->cpumask, "delay_base_us", 0,
			 "iops_threshold", 0, "socket", c->socket_path, "sessions", sessions,
			 "backend_specific", "block", "readonly", c->readonly, "bdev",
			 bdev_name(c->bdev), "transport", "vhost_user_blk");
}

json_t *vhost_blk_config_json(const struct vhost_blk_ctrlr *c)
{
	return json_pack("{s:s, s:{s:s, s:s, s:b, s:s}}", "method",
			 "vhost_create_blk_controller", "params", "ctrlr", c->name, "dev_name",
			 bdev_name(c->bdev), "readonly", c->readonly, "cpumask", c->cpumask);
}

void vhost_blk_shutdown(void)
{
	while (g_ctrlrs) {
		struct vhost_blk_ctrlr *c = g_ctrlrs;
		if (c->session)
			vhost_session_close(c->session, BLK_STOP_ORPHAN, "blockd stopping");
		ctrlr_destroy(c);
	}
	/* Queues let go of guest memory once the bdevs returned their IO; their last messages
	 * come back to this thread. */
	uint64_t deadline = monotonic_ns() + SHUTDOWN_WAIT_MS * 1000000ull;
	while (blk_queue_live() > 0 && monotonic_ns() < deadline)
		reactor_poll(g_app->app, 10);
	while (reactor_poll(g_app->app, 0) > 0 && monotonic_ns() < deadline)
		;       /* their "stopped" messages, posted before they went, free the sessions */
	if (blk_queue_live() > 0)
		log_warn("vhost", "msg=\"queues still busy at exit\" queues=%u", blk_queue_live());
}
