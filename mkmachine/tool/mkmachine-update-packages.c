/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The packages policy of auto-update: pending upgrades installed in a copy of the tree, with rollback. */

#include <sys/mman.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-glue.h"
#include "string-util.h"
#include "tool.h"

typedef struct PackageFill {
        int source_fd;
        PackageUpdateMode mode;
        int report_fd;
        int log_fd;
} PackageFill;

/* In store_prepare()'s child: the copy of the machine, updated there. */
static int package_fill(int tree_fd, void *userdata) {
        PackageFill *f = userdata;
        const char *step = NULL;
        int r;

        r = package_update_tree(f->source_fd, tree_fd, f->mode, f->report_fd, f->log_fd, &step);
        if (r < 0)
                (void) dprintf(f->log_fd, "\n%s failed%s%s\n", strna(step), r == -EPROTO ? "" : ": ",
                               r == -EPROTO ? "" : strerror(-r));
        return r;
}

/* The last lines of what apt said (the machine's apt: its bytes are shown only as printable ASCII). */
static char* apt_log_tail(int fd) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0, lines = 0;
        char *p;

        if (lseek(fd, 0, SEEK_SET) < 0 || read_full_fd(fd, 16 * 1024 * 1024, &text, &size) < 0)
                return NULL;
        while (size > 0 && strchr("\n ", text[size - 1]))
                text[--size] = 0;
        p = text + size;
        while (p > text && lines < 8)
                if (*--p == '\n')
                        lines++;
        if (*p == '\n')
                p++;
        for (char *c = p; *c; c++)
                if (*c == '\n')
                        *c = ';';
                else if ((unsigned char) *c < ' ' || (unsigned char) *c >= 0x7f)
                        *c = '?';
        return strdup(p);
}

static int memfd_reset(int fd) {
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return 0;
}

/* One pass of package_update_tree() on a new temporary of the machine: its name and fd (locked) in
 * *ret_tmp and *ret_tmp_fd (for PACKAGE_UPDATE_CHECK removed again), the upgrades apt reported in u. */
static int update_packages_pass(Store *s, Update *u, PackageFill *fill, char **ret_tmp, int *ret_tmp_fd) {
        _cleanup_free_ char *tmp = NULL, *report = NULL, *tail = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        PackageUpgrade *upgrades = NULL;
        size_t size = 0, n = 0;
        unsigned line = 0;
        int r, fill_error = 0;

        if (memfd_reset(fill->report_fd) < 0 || memfd_reset(fill->log_fd) < 0)
                return -errno;
        r = store_prepare(s, u->name, package_fill, fill, &tmp, &tmp_fd, &fill_error);
        if (r < 0) {
                tail = apt_log_tail(fill->log_fd);
                update_fail(u, "%s in a copy of its tree failed: %s", fill->mode == PACKAGE_UPDATE_CHECK ?
                            "looking for package updates" : "installing the package updates (the machine "
                            "is unchanged)", tail ?: strerror(fill_error < 0 ? -fill_error : -r));
                return r == -ECANCELED && fill_error < 0 ? fill_error : r;
        }
        if (fill->mode == PACKAGE_UPDATE_CHECK) {
                (void) store_discard(s, tmp);
                tmp = mfree(tmp);
        }

        if (lseek(fill->report_fd, 0, SEEK_SET) < 0)
                r = -errno;
        else
                r = read_full_fd(fill->report_fd, 16 * 1024 * 1024, &report, &size);
        if (r >= 0)
                r = package_upgrades_parse(report, size, &upgrades, &n, &line);
        if (r < 0) {
                if (tmp)
                        (void) store_discard(s, tmp);
                if (r == -EBADMSG)
                        update_fail(u, "apt's list of upgrades is malformed (line %u)", line);
                else
                        update_fail(u, "cannot read apt's list of upgrades: %s", strerror(-r));
                return r;
        }
        package_upgrade_array_free(u->upgrades, u->n_upgrades);
        u->upgrades = upgrades;
        u->n_upgrades = n;
        if (ret_tmp) {
                *ret_tmp = TAKE_PTR(tmp);
                *ret_tmp_fd = TAKE_FD(tmp_fd);
        }
        return 0;
}

/* Policy packages: apt looks for upgrades in a copy of the machine (it may run meanwhile); if there are
 * any, the machine is stopped (if it runs), copied again, the upgrades installed in that copy (not
 * booted, no network while package scripts run), the copy swapped in, and the machine started and
 * checked like after an image update. 0 if current or updated, <0 if failed or rolled back. */
int update_machine_packages(Store *s, sd_bus *bus, Update *u) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int source_fd = -EBADF, tmp_fd = -EBADF, report_fd = -EBADF, log_fd = -EBADF;
        const char *nspawn_dir = getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
        PackageFill fill = {};
        bool running;
        int r;

        source_fd = openat(s->root_fd, u->name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (source_fd < 0) {
                r = -errno;
                update_fail(u, "cannot open its tree: %s", strerror(-r));
                return r;
        }
        report_fd = memfd_create("apt-report", MFD_CLOEXEC);
        log_fd = memfd_create("apt-log", MFD_CLOEXEC);
        if (report_fd < 0 || log_fd < 0)
                return -errno;
        fill = (PackageFill) {
                .source_fd = source_fd,
                .mode = PACKAGE_UPDATE_CHECK,
                .report_fd = report_fd,
                .log_fd = log_fd,
        };

        r = update_packages_pass(s, u, &fill, NULL, NULL);
        if (r < 0)
                return r;
        u->action = auto_update_decide_packages(u->n_upgrades);
        u->result = auto_update_action_to_string(u->action);
        if (u->action != AUTO_UPDATE_PENDING || arg_dry_run)
                return 0;

        if (!arg_quiet)
                log_info("Updating %zu package%s of '%s'.", u->n_upgrades, u->n_upgrades == 1 ? "" : "s",
                         u->name);
        /* Stopped before the copy that is updated: nothing the machine writes is lost by the swap. */
        running = unit_running(bus, u->name);
        if (running) {
                r = machine_glue_stop(u->name);
                if (r < 0) {
                        update_fail(u, "it could not be stopped");
                        return r;
                }
        }
        fill.mode = PACKAGE_UPDATE_INSTALL;
        r = update_packages_pass(s, u, &fill, &tmp, &tmp_fd);
        if (r >= 0 && u->n_upgrades == 0) {
                /* The archive changed meanwhile: nothing was installed after all. */
                (void) store_discard(s, tmp);
                tmp_fd = safe_close(tmp_fd);
                if (running)
                        (void) machine_glue_start(u->name);
                u->action = AUTO_UPDATE_CURRENT;
                u->result = auto_update_action_to_string(u->action);
                return 0;
        }
        if (r >= 0) {
                r = store_swap_in(s, u->name, tmp);
                if (r < 0) {
                        (void) store_discard(s, tmp);
                        update_fail(u, "cannot put the updated tree in place: %s", strerror(-r));
                }
        }
        tmp_fd = safe_close(tmp_fd);
        if (r < 0) {
                if (running)
                        (void) machine_glue_start(u->name);
                return r;
        }
        if (!running) {
                u->result = "updated";
                return 0;
        }
        return update_restart(s, bus, u, nspawn_dir, false, NULL);
}
