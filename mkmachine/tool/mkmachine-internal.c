/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that units call, not people: __unit-helper and __ensure. */

#include "log.h"
#include "machine-file.h"
#include "machine-glue.h"
#include "process-util.h"
#include "string-util.h"
#include "tool.h"

int verb_unit_helper(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[2]);
        if (r < 0)
                return r;
        return machine_glue_unit_helper(argv[1], argv[2]);
}

/* "mkmachine VERB ARG NAME" for the sources that other verbs handle, in a child (the ensure lock stays
 * held meanwhile). */
static int run_self(const char *verb, const char *arg, const char *name) {
        char *argv[] = { (char*) "mkmachine", strjoina("--image-root=", arg_image_root), (char*) verb,
                         (char*) arg, (char*) name, NULL };
        siginfo_t si;
        pid_t pid;
        int r;

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0) {
                execv("/proc/self/exe", argv);
                log_error_errno(errno, "Failed to run 'mkmachine %s': %m", verb);
                _exit(EXIT_FAILURE);
        }
        r = wait_for_child(pid, &si);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for 'mkmachine %s': %m", verb);
        if (child_exit_status(&si) != 0)
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "'mkmachine %s %s %s' failed.", verb, arg,
                                       name);
        return 0;
}

/* The hidden verb of mkmachine-build@NAME.service (see mkmachine-generator): builds machine NAME from
 * its .machine file unless it is in the store already. Two at once: the second waits for the first and
 * then finds the machine there. */
int verb_ensure(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_file_freep) MachineFile *m = NULL;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_free_ char *lock_path = NULL;
        const char *name = argv[1], *reason = NULL;
        unsigned line = 0;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = machine_file_load(machines_dir(), name, &m, &line, &reason);
        if (r == -ENOENT)
                return log_error_errno(r, "No %s/%s" MACHINE_FILE_SUFFIX ": nothing declares machine '%s'.",
                                       machines_dir(), name, name);
        if (r == -EBADMSG && line > 0)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ":%u: %s.", machines_dir(), name, line,
                                       reason);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ": %s.", machines_dir(), name, reason);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s/%s" MACHINE_FILE_SUFFIX ": %m", machines_dir(),
                                       name);

        r = open_store(true, &s);
        if (r < 0)
                return r;
        if (asprintf(&lock_path, "%s/.#%s.ensure.lck", streq(s.root, "/") ? "" : s.root, name) < 0)
                return log_oom();
        r = make_lock_file(lock_path, LOCK_EX, &lock);
        if (r < 0)
                return log_error_errno(r, "Failed to lock '%s': %m", lock_path);

        if (store_get(&s, name, false, &info) >= 0) {
                if (!arg_quiet)
                        log_info("Machine '%s' is in the store already.", name);
                return 0;
        }
        if (!arg_quiet)
                log_info("Machine '%s' is missing: building it from %s (%s).", name, m->source,
                         machine_source_type_to_string(m->source_type));

        switch (m->source_type) {
        case MACHINE_SOURCE_RECIPE:
                arg_name = name;
                return run_bootstrap(m->source);
        case MACHINE_SOURCE_TAR:
                return run_import_tar(m->source, name);
        case MACHINE_SOURCE_PULL:
                return run_self("pull", m->source, name);
        case MACHINE_SOURCE_OCI:
                return run_self("import-oci", m->source + strlen("oci:"), name);
        default:
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown source type.");
        }
}
