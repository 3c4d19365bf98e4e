/* uuid.c — version 4 UUIDs from getrandom(2), and checking one in text form (see uuid.h). */
#include "uuid.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>

int uuid_generate_text(char out[UUID_TEXT_LEN + 1])
{
	unsigned char u[16];
	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		return errno ? -errno : -EIO;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);   /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
	snprintf(out, UUID_TEXT_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
	return 0;
}

int uuid_parse_text(const char *in, char out[UUID_TEXT_LEN + 1])
{
	if (!in || strlen(in) != UUID_TEXT_LEN)
		return -EINVAL;
	for (int i = 0; i < UUID_TEXT_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? in[i] != '-' : !isxdigit((unsigned char)in[i]))
			return -EINVAL;
	}
	if (out) {
		for (int i = 0; i < UUID_TEXT_LEN; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
		out[UUID_TEXT_LEN] = '\0';
	}
	return 0;
}
