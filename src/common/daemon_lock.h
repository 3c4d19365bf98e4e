/* daemon_lock.h — one instance of each daemon per host root: each holds an exclusive flock
 * on <root>/run/<daemon>.lock (paths_daemon_lock) for its whole life, and a second instance
 * refuses to start. The lock goes with the process, however it ends. vmengine and
 * diskengine take their own at start; blockd, which knows no root, gets its lock from the
 * supervisor that starts it (taken in the child before exec, inherited). */
#ifndef BERTH_DAEMON_LOCK_H
#define BERTH_DAEMON_LOCK_H

#include <stdbool.h>
#include <stddef.h>

/* Takes the lock (creating <root>/run 0700 and the file 0600 if needed): the fd, held until
 * the process exits (close-on-exec unless inherit), or -EALREADY when another instance
 * holds it, -errno; err says which in one line. */
int daemon_lock_take(const char *root, const char *daemon, bool inherit, char *err,
		     size_t errlen);
/* Whether some process holds daemon's lock on root now. */
bool daemon_lock_held(const char *root, const char *daemon);
/* Who holds daemon's lock on root (for `berth status`): its pid from /proc/locks, 0 when the
 * lock is held but the holder cannot be seen (another pid namespace), -1 when it is free. */
int daemon_lock_holder(const char *root, const char *daemon);

#endif
