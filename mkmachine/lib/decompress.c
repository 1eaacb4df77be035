/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decompress.h"
#include "fd-util.h"
#include "string-table.h"

/* Four 1 MiB chunks in flight: enough to keep both threads busy, small enough to stay in cache. */
#define RING_SLOTS 4U
#define SLOT_SIZE (1024U * 1024U)
#define IN_SIZE (256U * 1024U)
#define PREFIX_SIZE 512U

static const char* const compression_table[_COMPRESSION_MAX] = {
        [COMPRESSION_NONE]  = "none",
        [COMPRESSION_GZIP]  = "gzip",
        [COMPRESSION_XZ]    = "xz",
        [COMPRESSION_ZSTD]  = "zstd",
        [COMPRESSION_BZIP2] = "bzip2",
};

DEFINE_STRING_TABLE_LOOKUP(compression, Compression);

struct Decompressor {
        int input_fd;
        bool input_is_pipe;
        int cancel_fd;
        Compression compression;

        uint8_t prefix[PREFIX_SIZE];
        size_t prefix_len, prefix_off;
        bool input_eof;
        _Atomic uint64_t bytes_in;
        EVP_MD_CTX *sha256;
        uint8_t digest[32];
        bool digest_done;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint8_t *slots[RING_SLOTS];
        size_t slot_len[RING_SLOTS];
        unsigned head, count;   /* count includes the slot the consumer holds */
        bool held;
        bool eof;
        bool cancelled;
        int error;
        char error_msg[256];

        /* Producer side only */
        uint8_t *in_buf;
};

Compression compression_detect(const uint8_t *buf, size_t n) {
        static const uint8_t bz_block[] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 },
                             bz_empty[] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

        /* A tar header is recognized first, so that an uncompressed archive whose first file happens to
         * be named like a magic number is not misread. */
        if (n >= 262 && memcmp(buf + 257, "ustar", 5) == 0)
                return COMPRESSION_NONE;

        if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
                return COMPRESSION_GZIP;
        if (n >= 6 && memcmp(buf, "\xfd" "7zXZ\0", 6) == 0)
                return COMPRESSION_XZ;
        if (n >= 4 && memcmp(buf, "\x28\xb5\x2f\xfd", 4) == 0)
                return COMPRESSION_ZSTD;
        /* A zstd skippable frame (magic 0x184D2A50…5F, little-endian), as pzstd writes before each frame
         * (the size of the next one, for parallel decompression); libzstd skips it. */
        if (n >= 8 && (buf[0] & 0xf0) == 0x50 && memcmp(buf + 1, "\x2a\x4d\x18", 3) == 0)
                return COMPRESSION_ZSTD;
        if (n >= 10 && memcmp(buf, "BZh", 3) == 0 && buf[3] >= '1' && buf[3] <= '9' &&
            (memcmp(buf + 4, bz_block, 6) == 0 || memcmp(buf + 4, bz_empty, 6) == 0))
                return COMPRESSION_BZIP2;

        if ((n >= 4 && memcmp(buf, "\x04\x22\x4d\x18", 4) == 0) ||       /* lz4 */
            (n >= 4 && memcmp(buf, "LZIP", 4) == 0) ||
            (n >= 2 && buf[0] == 0x1f && buf[1] == 0x9d))                /* compress */
                return -EPROTONOSUPPORT;

        return COMPRESSION_NONE;
}

_printf_(3, 4)
static void producer_fail(Decompressor *d, int error, const char *format, ...) {
        va_list ap;

        pthread_mutex_lock(&d->lock);
        if (d->error == 0) {
                int saved = errno;

                d->error = error < 0 ? error : -EIO;
                errno = -d->error;      /* %m is the error passed in, as in error_message() */
                va_start(ap, format);
                (void) vsnprintf(d->error_msg, sizeof(d->error_msg), format, ap);
                va_end(ap);
                errno = saved;
        }
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
}

/* Reads raw input: first what detection already read, then the fd. Hashes everything it hands out.
 * Returns the number of bytes, 0 at EOF, -ECANCELED when the consumer went away. */
static ssize_t input_read(Decompressor *d, uint8_t *buf, size_t size) {
        ssize_t n;

        if (d->prefix_off < d->prefix_len) {
                n = (ssize_t) MIN(size, d->prefix_len - d->prefix_off);
                memcpy(buf, d->prefix + d->prefix_off, (size_t) n);
                d->prefix_off += (size_t) n;
                goto account;
        }
        if (d->input_eof)
                return 0;

        for (;;) {
                if (d->input_is_pipe) {
                        struct pollfd p[2] = {
                                { .fd = d->input_fd, .events = POLLIN },
                                { .fd = d->cancel_fd, .events = POLLIN },
                        };

                        if (poll(p, 2, -1) < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (p[1].revents != 0)
                                return -ECANCELED;
                }

                n = read(d->input_fd, buf, size);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                break;
        }

        if (n == 0) {
                d->input_eof = true;
                if (EVP_DigestFinal_ex(d->sha256, d->digest, NULL) != 1)
                        return -EIO;
                d->digest_done = true;
                return 0;
        }

account:
        if (EVP_DigestUpdate(d->sha256, buf, (size_t) n) != 1)
                return -EIO;
        atomic_fetch_add_explicit(&d->bytes_in, (uint64_t) n, memory_order_relaxed);
        return n;
}

static ssize_t input_read_full(Decompressor *d, uint8_t *buf, size_t size) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = input_read(d, buf + done, size - done);
                if (n < 0)
                        return n;
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

/* Waits for a free slot; NULL if the consumer went away. */
static uint8_t* producer_get_slot(Decompressor *d) {
        uint8_t *s = NULL;

        pthread_mutex_lock(&d->lock);
        while (d->count == RING_SLOTS && !d->cancelled)
                pthread_cond_wait(&d->cond, &d->lock);
        if (!d->cancelled)
                s = d->slots[(d->head + d->count) % RING_SLOTS];
        pthread_mutex_unlock(&d->lock);
        return s;
}

static void producer_commit(Decompressor *d, size_t len) {
        pthread_mutex_lock(&d->lock);
        d->slot_len[(d->head + d->count) % RING_SLOTS] = len;
        d->count++;
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
}

static void producer_finish(Decompressor *d) {
        pthread_mutex_lock(&d->lock);
        d->eof = true;
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
}

static int fail_input(Decompressor *d, ssize_t n) {
        if (n != -ECANCELED)
                producer_fail(d, (int) n, "Failed to read input: %s", strerror((int) -n));
        return (int) n;
}

static int run_none(Decompressor *d) {
        for (;;) {
                uint8_t *slot;
                ssize_t n;

                slot = producer_get_slot(d);
                if (!slot)
                        return -ECANCELED;
                n = input_read_full(d, slot, SLOT_SIZE);
                if (n < 0)
                        return fail_input(d, n);
                if (n == 0)
                        return 0;
                producer_commit(d, (size_t) n);
        }
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != 0)
                        return false;
        return true;
}

static int run_gzip(Decompressor *d) {
        struct inflate_state st;
        uint8_t *slot = NULL;
        bool trailer = false;
        int r;

        isal_inflate_init(&st);
        st.crc_flag = ISAL_GZIP;

        for (;;) {
                uint32_t before_out, before_in;

                if (st.avail_in == 0 && !d->input_eof) {
                        ssize_t n = input_read(d, d->in_buf, IN_SIZE);
                        if (n < 0)
                                return fail_input(d, n);
                        st.next_in = d->in_buf;
                        st.avail_in = (uint32_t) n;
                }

                if (trailer) {
                        /* After a complete member: another member, zero padding, or the end. */
                        if (st.avail_in == 0) {
                                if (d->input_eof)
                                        break;
                                continue;
                        }
                        if (st.next_in[0] == 0) {
                                if (!all_zero(st.next_in, st.avail_in)) {
                                        producer_fail(d, -EBADMSG, "Trailing garbage after gzip data.");
                                        return -EBADMSG;
                                }
                                st.avail_in = 0;
                                continue;
                        }
                        if (st.next_in[0] != 0x1f) {
                                producer_fail(d, -EBADMSG, "Trailing garbage after gzip data.");
                                return -EBADMSG;
                        }

                        uint8_t *next_in = st.next_in;
                        uint32_t avail_in = st.avail_in;

                        isal_inflate_reset(&st);
                        st.crc_flag = ISAL_GZIP;
                        st.next_in = next_in;
                        st.avail_in = avail_in;
                        trailer = false;
                }

                if (!slot) {
                        slot = producer_get_slot(d);
                        if (!slot)
                                return -ECANCELED;
                        st.next_out = slot;
                        st.avail_out = SLOT_SIZE;
                }

                before_out = st.avail_out;
                before_in = st.avail_in;
                r = isal_inflate(&st);
                if (r < 0 || r == ISAL_NEED_DICT) {
                        producer_fail(d, -EBADMSG, "Corrupt gzip data (%s).",
                                      r == ISAL_INCORRECT_CHECKSUM ? "checksum mismatch" :
                                      r == ISAL_INVALID_WRAPPER ? "bad gzip header" :
                                      r == ISAL_UNSUPPORTED_METHOD ? "unsupported method" :
                                      "invalid deflate data");
                        return -EBADMSG;
                }

                if (st.avail_out == 0) {
                        producer_commit(d, SLOT_SIZE);
                        slot = NULL;
                }

                if (st.block_state == ISAL_BLOCK_FINISH) {
                        trailer = true;
                        continue;
                }

                if (d->input_eof && st.avail_in == 0 && st.avail_out == before_out && before_in == 0) {
                        producer_fail(d, -EBADMSG, "Truncated gzip data.");
                        return -EBADMSG;
                }
        }

        if (slot && st.avail_out < SLOT_SIZE)
                producer_commit(d, SLOT_SIZE - st.avail_out);
        return 0;
}

static ssize_t archive_input_cb(struct archive *a, void *userdata, const void **ret_buf) {
        Decompressor *d = userdata;
        ssize_t n;

        n = input_read(d, d->in_buf, IN_SIZE);
        if (n < 0) {
                archive_set_error(a, (int) -n, "%s", strerror((int) -n));
                return -1;
        }
        *ret_buf = d->in_buf;
        return n;
}

static int run_libarchive(Decompressor *d) {
        struct archive *a;
        struct archive_entry *e;
        const char *name = compression_to_string(d->compression);
        int r = 0;

        a = archive_read_new();
        if (!a) {
                producer_fail(d, -ENOMEM, "Out of memory.");
                return -ENOMEM;
        }

        switch (d->compression) {
        case COMPRESSION_XZ:
                r = archive_read_support_filter_xz(a);
                break;
        case COMPRESSION_ZSTD:
                r = archive_read_support_filter_zstd(a);
                break;
        case COMPRESSION_BZIP2:
                r = archive_read_support_filter_bzip2(a);
                break;
        default:
                assert(false);
        }
        if (r != ARCHIVE_OK || archive_read_support_format_raw(a) != ARCHIVE_OK) {
                producer_fail(d, -EOPNOTSUPP, "libarchive lacks %s support: %s", name,
                              archive_error_string(a));
                r = -EOPNOTSUPP;
                goto finish;
        }

        if (archive_read_open(a, d, NULL, archive_input_cb, NULL) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK) {
                r = -EBADMSG;
                goto fail;
        }

        for (;;) {
                uint8_t *slot;
                size_t used = 0;

                slot = producer_get_slot(d);
                if (!slot) {
                        r = -ECANCELED;
                        goto finish;
                }
                while (used < SLOT_SIZE) {
                        la_ssize_t n = archive_read_data(a, slot + used, SLOT_SIZE - used);
                        if (n < 0) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        if (n == 0)
                                break;
                        used += (size_t) n;
                }
                if (used == 0)
                        break;
                producer_commit(d, used);
                if (used < SLOT_SIZE)
                        break;
        }

        /* Whatever follows the compressed stream still belongs to the input we hash. */
        for (;;) {
                ssize_t n = input_read(d, d->in_buf, IN_SIZE);
                if (n < 0) {
                        r = fail_input(d, n);
                        goto finish;
                }
                if (n == 0)
                        break;
        }
        r = 0;
        goto finish;

fail:
        if (archive_errno(a) == ECANCELED)
                r = -ECANCELED;
        else {
                const char *msg = archive_error_string(a);
                producer_fail(d, -EBADMSG, "Corrupt %s data%s%s.", name, msg ? ": " : "", msg ?: "");
        }
finish:
        archive_read_free(a);
        return r;
}

static void* producer_thread(void *userdata) {
        Decompressor *d = userdata;
        int r;

        switch (d->compression) {
        case COMPRESSION_NONE:
                r = run_none(d);
                break;
        case COMPRESSION_GZIP:
                r = run_gzip(d);
                break;
        default:
                r = run_libarchive(d);
        }

        if (r >= 0) {
                if (!d->digest_done) {
                        /* Read up to EOF, so that the digest covers the whole input. */
                        for (;;) {
                                ssize_t n = input_read(d, d->in_buf, IN_SIZE);
                                if (n < 0) {
                                        (void) fail_input(d, n);
                                        return NULL;
                                }
                                if (n == 0)
                                        break;
                        }
                }
                producer_finish(d);
        }
        return NULL;
}

int decompressor_new(int input_fd, Decompressor **ret) {
        _cleanup_(decompressor_freep) Decompressor *d = NULL;
        struct stat st;
        ssize_t n;
        int r;

        assert(input_fd >= 0);
        assert(ret);

        if (fstat(input_fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->input_fd = input_fd;
        d->input_is_pipe = !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
        d->cancel_fd = -EBADF;
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->cond, NULL);

        d->sha256 = EVP_MD_CTX_new();
        if (!d->sha256 || EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1)
                return -ENOMEM;

        d->cancel_fd = eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK);
        if (d->cancel_fd < 0)
                return -errno;

        d->in_buf = malloc(IN_SIZE);
        if (!d->in_buf)
                return -ENOMEM;
        for (unsigned i = 0; i < RING_SLOTS; i++) {
                d->slots[i] = malloc(SLOT_SIZE);
                if (!d->slots[i])
                        return -ENOMEM;
        }

        /* Read the magic without the digest: input_read() serves (and hashes) these bytes again. */
        n = loop_read(input_fd, d->prefix, sizeof(d->prefix));
        if (n < 0)
                return (int) n;
        d->prefix_len = (size_t) n;

        r = compression_detect(d->prefix, d->prefix_len);
        if (r < 0)
                return r;
        d->compression = r;

        r = -pthread_create(&d->thread, NULL, producer_thread, d);
        if (r < 0)
                return r;
        d->thread_started = true;

        *ret = TAKE_PTR(d);
        return 0;
}

Decompressor* decompressor_free(Decompressor *d) {
        if (!d)
                return NULL;

        if (d->thread_started) {
                pthread_mutex_lock(&d->lock);
                d->cancelled = true;
                pthread_cond_broadcast(&d->cond);
                pthread_mutex_unlock(&d->lock);
                if (d->cancel_fd >= 0)
                        (void) eventfd_write(d->cancel_fd, 1);
                (void) pthread_join(d->thread, NULL);
        }

        for (unsigned i = 0; i < RING_SLOTS; i++)
                free(d->slots[i]);
        free(d->in_buf);
        EVP_MD_CTX_free(d->sha256);
        safe_close(d->cancel_fd);
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
        return mfree(d);
}

Compression decompressor_compression(Decompressor *d) {
        return d->compression;
}

int decompressor_read(Decompressor *d, const void **ret_buf, size_t *ret_size) {
        int r = 0;

        assert(d);
        assert(ret_buf);
        assert(ret_size);

        pthread_mutex_lock(&d->lock);
        if (d->held) {
                d->head = (d->head + 1) % RING_SLOTS;
                d->count--;
                d->held = false;
                pthread_cond_broadcast(&d->cond);
        }
        while (d->count == 0 && !d->eof && d->error == 0)
                pthread_cond_wait(&d->cond, &d->lock);

        if (d->count > 0) {
                *ret_buf = d->slots[d->head];
                *ret_size = d->slot_len[d->head];
                d->held = true;
        } else if (d->error < 0)
                r = d->error;
        else {
                *ret_buf = NULL;
                *ret_size = 0;
        }
        pthread_mutex_unlock(&d->lock);
        return r;
}

int decompressor_drain(Decompressor *d) {
        for (;;) {
                const void *buf;
                size_t size;
                int r;

                r = decompressor_read(d, &buf, &size);
                if (r < 0)
                        return r;
                if (size == 0)
                        return 0;
        }
}

const char* decompressor_error(Decompressor *d) {
        const char *s;

        pthread_mutex_lock(&d->lock);
        s = d->error < 0 ? d->error_msg : NULL;
        pthread_mutex_unlock(&d->lock);
        return s;
}

uint64_t decompressor_bytes_in(Decompressor *d) {
        return atomic_load_explicit(&d->bytes_in, memory_order_relaxed);
}

int decompressor_sha256(Decompressor *d, char ret[static 65]) {
        bool done;

        pthread_mutex_lock(&d->lock);
        done = d->eof && d->digest_done;
        pthread_mutex_unlock(&d->lock);
        if (!done)
                return -EBUSY;

        for (size_t i = 0; i < sizeof(d->digest); i++)
                sprintf(ret + 2 * i, "%02x", d->digest[i]);
        return 0;
}
