/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "tar-unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sandbox[64];
static int sandbox_fd = -EBADF;

static void cleanup(void) {
        if (sandbox_fd >= 0) {
                (void) rm_rf_at(AT_FDCWD, sandbox);
                sandbox_fd = safe_close(sandbox_fd);
        }
}

static unsigned entries(int fd) {
        DIR *d = opendir_dup(fd);
        unsigned n = 0;

        if (!d)
                abort();
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Whatever the input: no crash, and nothing appears next to the tree. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int input = -EBADF, tree = -EBADF;
        _cleanup_free_ char *msg = NULL;
        if (size > 4 * 1024 * 1024)
                return 0;

        if (sandbox_fd < 0) {
                strcpy(sandbox, "/tmp/fuzz-tar-unpack.XXXXXX");
                if (!mkdtemp(sandbox))
                        abort();
                sandbox_fd = open(sandbox, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (sandbox_fd < 0)
                        abort();
                atexit(cleanup);
        }

        if (mkdirat(sandbox_fd, "tree", 0755) < 0)
                abort();
        tree = openat(sandbox_fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        input = memfd_create("input", MFD_CLOEXEC);
        if (tree < 0 || input < 0 || loop_write(input, data, size) < 0 || lseek(input, 0, SEEK_SET) < 0)
                abort();

        (void) tar_unpack(input, tree, 0, size, NULL, NULL, &msg);

        tree = safe_close(tree);
        if (rm_rf_at(sandbox_fd, "tree") < 0)
                abort();
        /* The sandbox must be empty again: an entry that escaped the tree would still be there. */
        if (entries(sandbox_fd) != 2)
                abort();
        return 0;
}
