/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Digests as the rest of the project writes and compares them: lower-case hex, of buffers and of whole
 * files (read with pread(), so the file offset does not move), and the check of a file against an
 * expected size and SHA-256 digest. Nothing here logs. */

/* n bytes of md as lower-case hex into ret (2 * n + 1 bytes). */
void digest_to_hex(const uint8_t *md, size_t n, char *ret);

/* Checks a file against its expected size and digest. 0 if it matches, -EBADMSG if not. */
int file_verify_at(int dir_fd, const char *name, uint64_t size, const char *sha256);
/* The same for an open file (read with pread(): its file offset does not move). */
int file_verify_fd(int fd, uint64_t size, const char *sha256);

/* The digest (EVP_sha256(), EVP_md5(), …) of the whole of fd as lower-case hex into ret (at least
 * 2 * EVP_MAX_MD_SIZE + 1 bytes), read with pread() (its file offset does not move). */
int fd_digest_hex(int fd, const EVP_MD *type, char *ret);

/* SHA-256 of a buffer as lower-case hex. 0, or -EIO if OpenSSL fails (out of memory, a FIPS provider that
 * refuses, …); ret is then the empty string, which equals no digest, so that a caller that compares
 * without looking at the result refuses rather than matches a made-up value. */
int sha256_hex(const void *data, size_t size, char ret[static 65]);
