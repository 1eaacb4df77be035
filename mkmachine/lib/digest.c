/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fd-util.h"

#define VERIFY_BUFFER_SIZE (256U * 1024U)

void digest_to_hex(const uint8_t *md, size_t n, char *ret) {
        for (size_t i = 0; i < n; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
}

int sha256_hex(const void *data, size_t size, char ret[static 65]) {
        uint8_t md[32];
        unsigned len = 0;

        /* Never a made-up digest: an all-zero one would be compared against, and an empty string
         * matches no digest that anyone checks against (see the header). */
        ret[0] = 0;
        if (EVP_Digest(data, size, md, &len, EVP_sha256(), NULL) != 1 || len != sizeof(md))
                return -EIO;
        digest_to_hex(md, sizeof(md), ret);
        return 0;
}

int fd_digest_hex(int fd, const EVP_MD *type, char *ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_MD_CTX *ctx;
        int r = 0;

        buf = malloc(VERIFY_BUFFER_SIZE);
        ctx = EVP_MD_CTX_new();
        if (!buf || !ctx || EVP_DigestInit_ex(ctx, type, NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        for (off_t offset = 0;;) {
                ssize_t n = pread(fd, buf, VERIFY_BUFFER_SIZE, offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                offset += n;
                if (EVP_DigestUpdate(ctx, buf, (size_t) n) != 1) {
                        r = -EIO;
                        break;
                }
        }
        if (r >= 0 && EVP_DigestFinal_ex(ctx, md, &len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r;
        digest_to_hex(md, len, ret);
        return 0;
}

int file_verify_fd(int fd, uint64_t size, const char *sha256) {
        char h[2 * EVP_MAX_MD_SIZE + 1];
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (size > 0 && (uint64_t) st.st_size != size))
                return -EBADMSG;
        if (!sha256)
                return 0;

        r = fd_digest_hex(fd, EVP_sha256(), h);
        if (r < 0)
                return r;
        return strcasecmp(h, sha256) == 0 ? 0 : -EBADMSG;
}

int file_verify_at(int dir_fd, const char *name, uint64_t size, const char *sha256) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, name, O_RDONLY|O_CLOEXEC|O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return file_verify_fd(fd, size, sha256);
}
