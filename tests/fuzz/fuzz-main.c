/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays a fuzzer's corpus without libFuzzer: every file named on the command line, or every file in
 * every directory named, goes through LLVMFuzzerTestOneInput() once. meson test runs this, so every
 * input that once crashed a parser stays a regression test in every build. Prints TAP. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (16U * 1024U * 1024U)

static unsigned n_run = 0;

static int run_file(int dir_fd, const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file_at(dir_fd, path, INPUT_MAX, &buf, &size);
        if (r < 0) {
                fprintf(stderr, "Failed to read '%s': %s\n", path, strerror(-r));
                return r;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t*) buf, size);
        printf("ok %u - %s\n", ++n_run, path);
        fflush(stdout);
        return 0;
}

static int run_dir(const char *path) {
        struct dirent **list = NULL;
        _cleanup_close_ int fd = -EBADF;
        int n, r = 0;

        fd = open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = scandirat(fd, ".", &list, NULL, alphasort);
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++) {
                struct stat st;

                if (r >= 0 && list[i]->d_name[0] != '.' &&
                    fstatat(fd, list[i]->d_name, &st, 0) >= 0 && S_ISREG(st.st_mode))
                        r = run_file(fd, list[i]->d_name);
                free(list[i]);
        }
        free(list);
        return r;
}

int main(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "Failed to stat '%s': %m\n", argv[i]);
                        return 1;
                }
                r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(AT_FDCWD, argv[i]);
                if (r < 0)
                        return 1;
        }
        if (n_run == 0) {
                fprintf(stderr, "No inputs.\n");
                return 1;
        }
        printf("1..%u\n", n_run);
        return 0;
}
