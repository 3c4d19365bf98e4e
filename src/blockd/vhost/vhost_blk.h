/* vhost_blk.h — vhost-user-blk controllers: a named listening socket in the vhost dir that
 * serves one bdev to one front-end (QEMU) at a time. Control thread only. */
#ifndef BLOCKD_VHOST_BLK_H
#define BLOCKD_VHOST_BLK_H

#include <stdbool.h>
#include <jansson.h>

#define VHOST_BLK_MAX_QUEUES 16
#define VHOST_CTRLR_NAME_MAX 63

struct vhost_blk_ctrlr;
struct blockd;

/* Controllers use app's control reactor, IO reactors and vhost dir, read when they are
 * created (app must outlive them). Called once before any other function here. */
void vhost_blk_init(const struct blockd *app);

/* Creates the controller and its socket <vhost dir>/<name>, claiming the bdev. cpumask
 * (NULL: every IO reactor) is a hex mask of reactors, "0x3". -EEXIST name taken, -ENODEV no
 * such bdev, -EBUSY bdev claimed, -EINVAL bad name or mask, or the errno of
 * socket/bind/listen. Split rings only (no packed ring). */
int vhost_blk_create(const char *name, const char *bdev_name, bool readonly,
		     const char *cpumask);
/* -ENODEV when there is none; -EBUSY when a front-end is connected and !force. With force the
 * front-end's outstanding requests fail (IOERR) and it is disconnected first. Never waits. */
int vhost_blk_delete(const char *name, bool force);

/* Every connected front-end whose message an injected fault holds is released if the fault
 * no longer holds it (after blockd_fault_vhost cleared it). */
void vhost_blk_recheck_holds(void);

struct vhost_blk_ctrlr *vhost_blk_find(const char *name);
void vhost_blk_foreach(void (*fn)(struct vhost_blk_ctrlr *c, void *arg), void *arg);
/* vhost_get_controllers' entry (SPDK's shape, with sessions and inflight_task_cnt). */
json_t *vhost_blk_info_json(const struct vhost_blk_ctrlr *c);
/* {"method": "vhost_create_blk_controller", "params": {...}} for save_config. */
json_t *vhost_blk_config_json(const struct vhost_blk_ctrlr *c);

/* SIGTERM: disconnects every front-end (its in-flight requests stay recorded in the inflight
 * region for the next blockd), removes every socket and waits (bounded) for queues to let go
 * of guest memory. */
void vhost_blk_shutdown(void);

#endif
