/* uuid.h — UUIDs in their 36-character text form: random ones (version 4, RFC 4122), and the
 * check of one that came from outside (any version, either case). */
#ifndef BERTH_UUID_H
#define BERTH_UUID_H

#define UUID_TEXT_LEN 36

/* Writes UUID_TEXT_LEN characters and a NUL to out. 0 or -errno (no randomness). */
int uuid_generate_text(char out[UUID_TEXT_LEN + 1]);

/* Checks in (8-4-4-4-12 hex digits) and writes it lower-cased to out (may be NULL).
 * 0 or -EINVAL. */
int uuid_parse_text(const char *in, char out[UUID_TEXT_LEN + 1]);

#endif
