/* array.h — growing a heap array one element at a time (doubling from 16), the one way every
 * list reader of Berth (desired-state directories, the store's rows, the target's listings)
 * makes room. */
#ifndef BERTH_ARRAY_H
#define BERTH_ARRAY_H

#include <stddef.h>

/* itemsp is the address of the array pointer (T **); n its length, *cap its capacity. Makes
 * room for element n: 0, or -ENOMEM with the array left as it was. */
int array_reserve_one(void *itemsp, size_t *cap, size_t n, size_t size);

#endif
