/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

typedef enum Compression {
        COMPRESSION_NONE,
        COMPRESSION_GZIP,
        COMPRESSION_XZ,
        COMPRESSION_ZSTD,
        COMPRESSION_BZIP2,
        _COMPRESSION_MAX,
        _COMPRESSION_INVALID = -EINVAL,
} Compression;

const char* compression_to_string(Compression c);
Compression compression_from_string(const char *s);

/* Detects the compression of a stream from its first bytes. n may be short (a tiny input): then only
 * what fits is checked. Returns the compression, or -EPROTONOSUPPORT for a known but unsupported one
 * (lz4, lzip, compress). A zstd stream may begin with a skippable frame (pzstd's output does). */
Compression compression_detect(const uint8_t *buf, size_t n);

/* A reader thread that reads input_fd (a file or a pipe), hashes the raw input with SHA-256,
 * decompresses it (gzip with the inflate of ISA-L; xz, zstd and bzip2 with the filters of libarchive)
 * and hands the result over in chunks through a small, fixed ring of buffers: memory use is constant,
 * and reading, inflating and the consumer's work overlap. */
typedef struct Decompressor Decompressor;

/* Reads the first bytes of input_fd to detect the compression and starts the thread. */
int decompressor_new(int input_fd, Decompressor **ret);
/* Stops the thread (also while it is blocked reading a pipe) and frees everything. */
Decompressor* decompressor_free(Decompressor *d);
DEFINE_POINTER_CLEANUP(Decompressor*, decompressor_free);

Compression decompressor_compression(Decompressor *d);

/* Returns the next chunk of decompressed data in *ret_buf and *ret_size (0 at the end of the stream); the
 * chunk stays valid until the next call. On a malformed or truncated stream or a read error returns a
 * negative errno, and decompressor_error() describes it. */
int decompressor_read(Decompressor *d, const void **ret_buf, size_t *ret_size);

/* Reads and decompresses the rest of the input, discarding it (to check its integrity and complete the
 * digest after the consumer is done with the contents). */
int decompressor_drain(Decompressor *d);

const char* decompressor_error(Decompressor *d);
/* Compressed bytes read so far; safe to call at any time. */
uint64_t decompressor_bytes_in(Decompressor *d);
/* SHA-256 of the whole raw input, as lower-case hex; only after the end of the stream was read. */
int decompressor_sha256(Decompressor *d, char ret[static 65]);
