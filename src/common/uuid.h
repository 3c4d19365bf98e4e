/* uuid.h — random (version 4, RFC 4122) UUIDs in their 36-character lower-case text form. */
#ifndef BERTH_UUID_H
#define BERTH_UUID_H

#define UUID_TEXT_LEN 36

/* Writes UUID_TEXT_LEN characters and a NUL to out. 0 or -errno (no randomness). */
int uuid_generate_text(char out[UUID_TEXT_LEN + 1]);

#endif
