/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy.h"
#include "deb-install.h"
#include "deb-version.h"
#include "fd-util.h"
#include "log.h"
#include "build-env.h"
#include "package-update.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"

PackageUpgrade* package_upgrade_array_free(PackageUpgrade *a, size_t n) {
        if (!a)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                free(a[i].package);
                free(a[i].installed);
                free(a[i].candidate);
                free(a[i].architecture);
        }
        return mfree(a);
}

static bool is_package_char(char c, bool first) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!first && strchr("+-.", c));
}

static bool is_arch_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* NAME[:ARCH]: Debian Policy 5.6.1 (at least two characters, lower case, starting alphanumeric). */
static bool package_name_valid(const char *s) {
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t) (colon - s) : strlen(s);

        if (n < 2)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_package_char(s[i], i == 0))
                        return false;
        if (!colon)
                return true;
        if (!colon[1])
                return false;
        for (const char *p = colon + 1; *p; p++)
                if (!is_arch_char(*p))
                        return false;
        return true;
}

static bool arch_valid(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!is_arch_char(*s))
                        return false;
        return true;
}

/* n bytes of s (which need not be NUL-terminated, not even after them) as a new string: strndup() may
 * look further for the NUL. */
static char* bytes_dup(const char *s, size_t n) {
        char *d = malloc(n + 1);

        if (!d)
                return NULL;
        memcpy(d, s, n);
        d[n] = 0;
        return d;
}

/* The next space-delimited word of *p (moved past it), as a new string. */
static int next_word(const char **p, const char *end, char **ret) {
        const char *s = *p, *e;
        char *w;

        e = s;
        while (e < end && *e != ' ')
                e++;
        if (e == s)
                return -EBADMSG;
        w = bytes_dup(s, e - s);
        if (!w)
                return -ENOMEM;
        *p = e;
        *ret = w;
        return 0;
}

/* One "Inst " line (without that prefix), l..end. */
static int parse_inst(const char *l, const char *end, PackageUpgrade *ret) {
        _cleanup_free_ char *package = NULL, *installed = NULL, *candidate = NULL, *arch = NULL;
        const char *p = l, *close, *open;
        int r;

        r = next_word(&p, end, &package);
        if (r < 0)
                return r;
        if (!package_name_valid(package))
                return -EBADMSG;

        if (end - p >= 2 && p[0] == ' ' && p[1] == '[') {
                const char *e = memchr(p + 2, ']', end - p - 2);
                if (!e || e == p + 2)
                        return -EBADMSG;
                installed = bytes_dup(p + 2, e - p - 2);
                if (!installed)
                        return -ENOMEM;
                if (!deb_version_is_valid(installed))
                        return -EBADMSG;
                p = e + 1;
        }

        if (end - p < 2 || p[0] != ' ' || p[1] != '(')
                return -EBADMSG;
        p += 2;
        /* The candidate version ends at the first space; the release list after it may hold spaces
         * (", " between origins), and the architecture is the last "[…]" before the closing ')'. */
        r = next_word(&p, end, &candidate);
        if (r < 0)
                return r;
        if (candidate[strlen(candidate) - 1] == ')')
                candidate[strlen(candidate) - 1] = 0;
        if (!deb_version_is_valid(candidate))
                return -EBADMSG;
        close = memchr(p, ')', end - p);
        if (!close && p < end)
                return -EBADMSG;
        if (close && close > p && close[-1] == ']') {
                open = close - 1;
                while (open > p && *open != '[')
                        open--;
                if (*open != '[')
                        return -EBADMSG;
                arch = bytes_dup(open + 1, close - 1 - open - 1);
                if (!arch)
                        return -ENOMEM;
                if (!arch_valid(arch))
                        return -EBADMSG;
        }

        *ret = (PackageUpgrade) {
                .package = TAKE_PTR(package),
                .installed = TAKE_PTR(installed),
                .candidate = TAKE_PTR(candidate),
                .architecture = TAKE_PTR(arch),
        };
        return 0;
}

int package_upgrades_parse(const char *text, size_t size, PackageUpgrade **ret, size_t *ret_n,
                           unsigned *reterr_line) {
        PackageUpgrade *a = NULL;
        size_t n = 0, allocated = 0;
        const char *p, *end;
        unsigned line = 0;
        int r = 0;

        assert(text || size == 0);
        assert(ret);
        assert(ret_n);

        if (size == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        p = text;
        end = text + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', end - p), *e = nl ?: end;

                line++;
                if ((size_t) (e - p) > PACKAGE_UPGRADE_LINE_MAX) {
                        r = -E2BIG;
                        break;
                }
                if (e - p >= 5 && memcmp(p, "Inst ", 5) == 0) {
                        if (n >= PACKAGE_UPGRADES_MAX) {
                                r = -E2BIG;
                                break;
                        }
                        if (n >= allocated) {
                                size_t k = MAX(allocated * 2, (size_t) 16);
                                PackageUpgrade *b = reallocarray(a, k, sizeof(PackageUpgrade));
                                if (!b) {
                                        r = -ENOMEM;
                                        break;
                                }
                                a = b;
                                allocated = k;
                        }
                        if (memchr(p, 0, e - p)) {
                                r = -EBADMSG;
                                break;
                        }
                        r = parse_inst(p + 5, e, a + n);
                        if (r < 0)
                                break;
                        n++;
                }
                p = nl ? nl + 1 : end;
        }
        if (r < 0) {
                package_upgrade_array_free(a, n);
                if (r == -EBADMSG && reterr_line)
                        *reterr_line = line;
                return r;
        }
        if (n == 0)
                a = mfree(a);
        *ret = a;
        *ret_n = n;
        return 0;
}

int package_update_run_in_tree(int tree_fd, bool network, char * const argv[], int output_fd) {
        siginfo_t si = {};
        pid_t pid;
        int k;

        assert(tree_fd >= 0);
        assert(argv && argv[0]);

        /* A child that enters the bootstrap's sandbox (build-env: mount, IPC, UTS and, without network,
         * network namespaces; per command a PID namespace, pivot_root into the tree): the machine's own
         * apt and its packages' scripts never run with the host's processes, paths or (for the install
         * step) network. */
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int r;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(127);
                r = build_env_setup_network(tree_fd, "localhost", NULL, NULL, network);
                if (r < 0)
                        _exit(127);
                r = build_env_run(tree_fd, argv, NULL, output_fd);
                _exit(r < 0 ? 127 : MIN(r, 255));
        }
        k = wait_for_child(pid, &si);
        if (k < 0)
                return k;
        return child_exit_status(&si);
}

/* apt-get in the tree: non-interactive, keeping changed conffiles (as unattended-upgrades does), with
 * its output in log_fd (apt's simulation in output_fd). */
static int apt_get(int tree_fd, bool network, int output_fd, const char *step, const char **reterr_step,
                   char * const args[]) {
        char *argv[16] = {
                (char*) "/usr/bin/apt-get", (char*) "-q", (char*) "-y",
                (char*) "-o", (char*) "Dpkg::Options::=--force-confdef",
                (char*) "-o", (char*) "Dpkg::Options::=--force-confold",
        };
        size_t n = 7;
        int r;

        for (size_t i = 0; args[i]; i++) {
                assert(n < ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        r = package_update_run_in_tree(tree_fd, network, argv, output_fd);
        if (r != 0) {
                log_debug("%s in the tree: %s %i.", step, r < 0 ? "error" : "exit status", r);
                if (reterr_step)
                        *reterr_step = step;
                return r < 0 ? r : -EPROTO;
        }
        return 0;
}

int package_update_tree(int source_fd, int tree_fd, PackageUpdateMode mode, int report_fd, int log_fd,
                        const char **reterr_step) {
        bool own_policy;
        int r;

        assert(source_fd >= 0);
        assert(tree_fd >= 0);
        assert(mode >= 0 && mode < _PACKAGE_UPDATE_MODE_MAX);

        r = copy_tree_at(source_fd, tree_fd, NULL, NULL);
        if (r < 0) {
                if (reterr_step)
                        *reterr_step = "copying the tree";
                return r;
        }

        /* The machine's own policy-rc.d (if it has one) stays as it is; else ours keeps services from
         * starting while packages are configured, and goes again. */
        own_policy = faccessat(tree_fd, "usr/sbin/policy-rc.d", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!own_policy) {
                r = tree_resume(tree_fd);
                if (r < 0) {
                        if (reterr_step)
                                *reterr_step = "preparing the tree";
                        return r;
                }
        }
        r = apt_get(tree_fd, true, log_fd, "apt-get update", reterr_step, STRV_MAKE("update"));
        if (r >= 0)
                r = apt_get(tree_fd, false, report_fd, "apt-get --simulate upgrade", reterr_step,
                            STRV_MAKE("--simulate", "--with-new-pkgs", "upgrade"));
        if (r >= 0 && mode == PACKAGE_UPDATE_INSTALL) {
                r = apt_get(tree_fd, true, log_fd, "apt-get --download-only upgrade", reterr_step,
                            STRV_MAKE("--download-only", "--with-new-pkgs", "upgrade"));
                if (r >= 0)
                        r = apt_get(tree_fd, false, log_fd, "apt-get upgrade", reterr_step,
                                    STRV_MAKE("--no-download", "--with-new-pkgs", "upgrade"));
                if (r >= 0)
                        r = apt_get(tree_fd, false, log_fd, "apt-get clean", reterr_step,
                                    STRV_MAKE("clean"));
        }
        if (r < 0)
                return r;

        r = own_policy ? 0 : tree_finish(tree_fd);
        if (r < 0 && reterr_step)
                *reterr_step = "cleaning up the tree";
        return r;
}
