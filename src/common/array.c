/* array.c — growing a heap array (see array.h). */
#include "array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int array_reserve_one(void *itemsp, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t want = *cap ? *cap * 2 : 16;
	if (size == 0 || want > SIZE_MAX / size)
		return -ENOMEM;
	void *items;
	memcpy(&items, itemsp, sizeof(items));
	void *grown = realloc(items, want * size);
	if (!grown)
		return -ENOMEM;
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = want;
	return 0;
}
