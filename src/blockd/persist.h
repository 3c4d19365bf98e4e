/* persist.h — blockd --persist FILE: the configuration (save_config's shape) written durably
 * with every change before it is answered, and replayed at start before the first RPC is
 * answered. */
#ifndef BLOCKD_PERSIST_H
#define BLOCKD_PERSIST_H

/* Saves the configuration around every change (the RPC change hooks: after a create or an
 * update, before a delete); a failed save fails the change. */
int persist_register(void);

/* Enables persistence to path (NULL disables). */
void persist_set_path(const char *path);
/* Writes the configuration if persistence is on. Logs and returns -errno on failure. */
int persist_save(void);
/* Replays the file if it exists: every entry through the same RPC handlers. An entry that
 * fails is logged (an error, at every start) and kept: every later save writes it again,
 * until an object of the same name in its subsystem replaces it. Returns the number replayed, or -errno if the file is unreadable
 * or not a configuration (nothing is replayed then). */
int persist_load(void);

#endif
