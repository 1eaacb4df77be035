/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "machine-config.h"
#include "path-util.h"
#include "string-table.h"
#include "string-util.h"

static const char* const restart_policy_table[_RESTART_POLICY_MAX] = {
        [RESTART_NO]         = "no",
        [RESTART_ON_FAILURE] = "on-failure",
        [RESTART_ALWAYS]     = "always",
};
DEFINE_STRING_TABLE_LOOKUP(restart_policy, RestartPolicy);

/* Opens dir, creating it (and its parents, 0755) first if asked. */
static int open_dir(const char *dir, bool create) {
        int fd;

        fd = open(dir, O_DIRECTORY|O_CLOEXEC|O_RDONLY);
        if (fd >= 0 || errno != ENOENT || !create)
                return fd >= 0 ? fd : -errno;

        int r = mkdir_p_at(AT_FDCWD, dir, 0755, 0755);
        if (r < 0)
                return r;

        fd = open(dir, O_DIRECTORY|O_CLOEXEC|O_RDONLY);
        return fd >= 0 ? fd : -errno;
}

static int load_ini_at(int dir_fd, const char *file, bool lenient, IniFile **ret, unsigned *reterr_line) {
        _cleanup_fclose_ FILE *f = NULL;
        int fd;

        fd = dir_fd < 0 ? -EBADF : openat(dir_fd, file, O_RDONLY|O_CLOEXEC|O_NOFOLLOW);
        if (fd < 0) {
                if (dir_fd >= 0 && errno != ENOENT)
                        return -errno;
                return ini_new(ret);
        }
        f = fdopen(fd, "r");
        if (!f) {
                safe_close(fd);
                return -errno;
        }
        return lenient ? ini_parse_lenient(f, ret, reterr_line) : ini_parse(f, ret, reterr_line);
}

/* Reads the file as systemd-nspawn does (see nspawn_settings_from_ini_lenient()): the lines skipped go to
 * *ret_ignored, if non-NULL. */
static int load(const char *nspawn_dir, const char *name, bool create, int *ret_dir_fd,
                NspawnSettings *ret_settings, IniFile **ret_ini, unsigned **ret_ignored,
                size_t *ret_n_ignored, unsigned *reterr_line) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_(ini_freep) IniFile *ini = NULL;
        int r;

        assert(nspawn_dir);
        assert(name);

        dir_fd = open_dir(nspawn_dir, create);
        if (dir_fd < 0 && (dir_fd != -ENOENT || create))
                return dir_fd;

        r = load_ini_at(dir_fd, strjoina(name, ".nspawn"), /* lenient= */ true, &ini, reterr_line);
        if (r < 0)
                return r;

        if (ret_settings) {
                r = nspawn_settings_from_ini_lenient(ini, ret_settings, ret_ignored, ret_n_ignored);
                if (r < 0)
                        return r;
        }
        if (ret_dir_fd)
                *ret_dir_fd = TAKE_FD(dir_fd);
        if (ret_ini)
                *ret_ini = TAKE_PTR(ini);
        return 0;
}

int machine_settings_load(const char *nspawn_dir, const char *name, NspawnSettings *ret_settings,
                          IniFile **ret_ini, unsigned *reterr_line) {
        return load(nspawn_dir, name, false, NULL, ret_settings, ret_ini, NULL, NULL, reterr_line);
}

int machine_settings_write(const char *nspawn_dir, const char *name, const NspawnSettings *s,
                           unsigned *reterr_line) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_(nspawn_settings_done) NspawnSettings old;
        _cleanup_free_ unsigned *ignored = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, n_ignored = 0;
        FILE *f;
        int r;

        assert(s);

        nspawn_settings_init(&old);
        r = load(nspawn_dir, name, true, &dir_fd, &old, &ini, &ignored, &n_ignored, reterr_line);
        if (r < 0)
                return r;

        r = nspawn_settings_apply(s, ini);
        if (r < 0)
                return r;

        /* A line we could not read stays as it is, unless this write replaces it (one of the keys it
         * sets): then we would drop what systemd-nspawn may well use (a Bind= option we do not know),
         * so refuse, naming the line. The other lines are kept byte for byte. */
        for (size_t i = 0; i < n_ignored; i++) {
                bool kept = false;

                INI_FOREACH(l, ini)
                        if (l->line == ignored[i] && l->raw) {
                                kept = true;
                                break;
                        }
                if (!kept) {
                        if (reterr_line)
                                *reterr_line = ignored[i];
                        return -EBADMSG;
                }
        }

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        r = ini_write(ini, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;

        return write_file_atomic_at(dir_fd, strjoina(name, ".nspawn"), buf, size, 0644);
}

int nspawn_settings_check_binds(const NspawnSettings *s, const char **reterr_path) {
        struct stat st;

        assert(s);

        for (size_t i = 0; i < s->n_binds; i++)
                if (stat(s->binds[i].source, &st) < 0) {
                        if (reterr_path)
                                *reterr_path = s->binds[i].source;
                        return -errno;
                }
        return 0;
}

void nspawn_settings_idmap_binds(NspawnSettings *s) {
        assert(s);

        for (size_t i = 0; i < s->n_binds; i++)
                if (!s->binds[i].idmap_set)
                        s->binds[i].idmap = true;
}

int restart_dropin_format(RestartPolicy p, const char *helper, char **ret) {
        assert(helper);
        assert(ret);

        if (p <= RESTART_NO || p >= _RESTART_POLICY_MAX || helper[0] != '/' ||
            ini_unit_value_check(helper, /* word= */ true) < 0)
                return -EINVAL;

        /* Restart= alone does not work on systemd 252: machined still has the crashed machine while the
         * unit restarts ("Machine … already exists") and the killed nspawn leaves its port forward in
         * nftables ("File exists"), so each start first unregisters the name and each stop drops the
         * forwards. Both are '-': harmless when there is nothing to clean up. RestartSec= gives the
         * kernel a moment to tear down the old veth. A reboot from inside (exit 133) restarts anyway
         * (RestartForceExitStatus= of the unit). */
        if (asprintf(ret,
                     "# Written by mkmachine (--restart=%s): overwritten by 'mkmachine set --restart=…',\n"
                     "# removed by 'mkmachine remove'.\n"
                     "[Unit]\n"
                     "StartLimitIntervalSec=60\n"
                     "StartLimitBurst=10\n"
                     "\n"
                     "[Service]\n"
                     "Restart=%s\n"
                     "RestartSec=1\n"
                     "ExecStartPre=-%s __unit-helper unregister %%i\n"
                     "ExecStopPost=-%s __unit-helper unforward %%i\n",
                     restart_policy_to_string(p), restart_policy_to_string(p), helper, helper) < 0)
                return -ENOMEM;
        return 0;
}

static char* dropin_dir_name(const char *name) {
        char *s;

        if (asprintf(&s, "systemd-nspawn@%s.service.d", name) < 0)
                return NULL;
        return s;
}

/* Writes content as UNIT_DIR/systemd-nspawn@NAME.service.d/FILE, or removes that file (content NULL)
 * and the directory if it is left empty. 1 if something changed on disk, 0 if not. */
static int dropin_write(const char *unit_dir, const char *name, const char *file, const char *content) {
        _cleanup_close_ int dir_fd = -EBADF, d = -EBADF;
        _cleanup_free_ char *dn = NULL, *old = NULL;
        int r;

        assert(unit_dir);
        assert(name);

        dn = dropin_dir_name(name);
        if (!dn)
                return -ENOMEM;

        if (!content) {
                dir_fd = open_dir(unit_dir, false);
                if (dir_fd == -ENOENT)
                        return 0;
                if (dir_fd < 0)
                        return dir_fd;
                d = openat(dir_fd, dn, O_DIRECTORY|O_CLOEXEC|O_RDONLY|O_NOFOLLOW);
                if (d < 0)
                        return errno == ENOENT ? 0 : -errno;
                if (unlinkat(d, file, 0) < 0)
                        return errno == ENOENT ? 0 : -errno;
                /* The directory goes too, unless it holds other drop-ins (ours or someone's). */
                (void) unlinkat(dir_fd, dn, AT_REMOVEDIR);
                return 1;
        }

        dir_fd = open_dir(unit_dir, true);
        if (dir_fd < 0)
                return dir_fd;
        if (mkdirat(dir_fd, dn, 0755) < 0 && errno != EEXIST)
                return -errno;
        d = openat(dir_fd, dn, O_DIRECTORY|O_CLOEXEC|O_RDONLY|O_NOFOLLOW);
        if (d < 0)
                return -errno;

        r = read_full_file_at(d, file, 64 * 1024, &old, NULL);
        if (r >= 0 && streq(old, content))
                return 0;

        r = write_file_atomic_at(d, file, content, strlen(content), 0644);
        return r < 0 ? r : 1;
}

int machine_restart_write(const char *unit_dir, const char *name, RestartPolicy p, const char *helper) {
        _cleanup_free_ char *content = NULL;
        int r;

        if (p != RESTART_NO) {
                r = restart_dropin_format(p, helper, &content);
                if (r < 0)
                        return r;
        }
        return dropin_write(unit_dir, name, MACHINE_DROPIN_NAME, content);
}

bool nspawn_settings_is_app_network(const NspawnSettings *s) {
        assert(s);

        /* No Boot= in the file: systemd-nspawn@.service boots. No network keys: its --network-veth. */
        return s->boot == 0 && s->network != NETWORK_HOST && s->network != NETWORK_NONE;
}

int network_dropin_format(const char *helper, char **ret) {
        assert(helper);
        assert(ret);

        if (helper[0] != '/' || ini_unit_value_check(helper, /* word= */ true) < 0)
                return -EINVAL;

        /* Before the start the machine's resolv.conf (fresh from the host's), after it host0: nspawn has
         * made the namespace and moved host0 in by then, and the unit is not active before it is done.
         * Not '-': a machine whose network cannot be set up has failed to start. */
        if (asprintf(ret,
                     "# Written by mkmachine: this machine runs an application, not an init, on a\n"
                     "# private network, and nobody inside configures host0. mkmachine does it from\n"
                     "# the host, at every start. Removed when the machine boots an init or leaves the\n"
                     "# private network.\n"
                     "[Service]\n"
                     "ExecStartPre=%s __unit-helper network-prepare %%i\n"
                     "ExecStartPost=%s __unit-helper network-up %%i\n",
                     helper, helper) < 0)
                return -ENOMEM;
        return 0;
}

int machine_network_write(const char *unit_dir, const char *name, const char *helper) {
        _cleanup_free_ char *content = NULL;
        int r;

        if (helper) {
                r = network_dropin_format(helper, &content);
                if (r < 0)
                        return r;
        }
        return dropin_write(unit_dir, name, MACHINE_NETWORK_DROPIN_NAME, content);
}

char* machine_resolv_conf_path(const char *network_dir, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s/resolv.conf", network_dir, name) < 0)
                return NULL;
        return p;
}

bool nspawn_bind_is_dns(const NspawnBind *b, const char *network_dir, const char *name) {
        _cleanup_free_ char *p = machine_resolv_conf_path(network_dir, name);

        return p && streq(b->source, p) && streq(b->destination, "/etc/resolv.conf");
}

/* A bind of some machine's resolv.conf of ours onto /etc/resolv.conf (a template's, copied into its
 * instance's settings, is one too). */
static bool bind_is_any_dns(const NspawnBind *b, const char *network_dir) {
        const char *rest = startswith(b->source, network_dir), *e;

        if (!rest || rest[0] != '/' || !streq(b->destination, "/etc/resolv.conf"))
                return false;
        rest++;
        e = endswith(rest, "/resolv.conf");
        return e && e > rest && !memchr(rest, '/', e - rest);
}

int nspawn_settings_set_dns_bind(NspawnSettings *s, const char *network_dir, const char *name, bool want) {
        NspawnBind b;
        bool changed = false;
        int r;

        assert(s);
        assert(name);

        for (size_t i = 0; i < s->n_binds; i++) {
                if (!bind_is_any_dns(s->binds + i, network_dir))
                        continue;
                if (want && nspawn_bind_is_dns(s->binds + i, network_dir, name))
                        return changed;
                free(s->binds[i].source);
                free(s->binds[i].destination);
                memmove(s->binds + i, s->binds + i + 1, (s->n_binds - i - 1) * sizeof(NspawnBind));
                s->n_binds--;
                s->binds_set = changed = true;
                i--;
        }
        if (!want)
                return changed;

        /* Read-only, no idmap (the directory may be on a file system that cannot be idmapped): the
         * machine reads it as nobody's, which is all it needs. */
        b = (NspawnBind) {
                .source = machine_resolv_conf_path(network_dir, name),
                .destination = strdup("/etc/resolv.conf"),
                .read_only = true,
                .idmap_set = true,
        };
        if (!b.source || !b.destination) {
                free(b.source);
                free(b.destination);
                return -ENOMEM;
        }
        r = nspawn_settings_add_bind(s, &b);
        if (r < 0) {
                free(b.source);
                free(b.destination);
                return r;
        }
        s->binds_set = true;
        return 1;
}

int machine_restart_read(const char *unit_dir, const char *name, RestartPolicy *ret) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *dn = NULL;
        const char *v;
        RestartPolicy p;
        int r;

        assert(ret);

        dn = dropin_dir_name(name);
        if (!dn)
                return -ENOMEM;
        dir_fd = open_dir(unit_dir, false);
        if (dir_fd < 0 && dir_fd != -ENOENT)
                return dir_fd;
        if (dir_fd >= 0) {
                int d = openat(dir_fd, dn, O_DIRECTORY|O_CLOEXEC|O_RDONLY|O_NOFOLLOW);

                if (d < 0 && errno != ENOENT)
                        return -errno;
                safe_close(dir_fd);
                dir_fd = d;
        }
        r = load_ini_at(dir_fd, MACHINE_DROPIN_NAME, /* lenient= */ false, &ini, NULL);
        if (r < 0)
                return r;
        if (ini->n_lines == 0) {
                *ret = RESTART_NO;
                return 0;
        }

        v = ini_get(ini, "Service", "Restart", NULL);
        p = v ? restart_policy_from_string(v) : _RESTART_POLICY_INVALID;
        if (p < 0)
                return -EBADMSG;
        *ret = p;
        return 0;
}

/* Removes DIR/NAME and everything below it: 1 if it was there, 0 if not (nor DIR). */
static int remove_tree_in(const char *dir, const char *name) {
        _cleanup_close_ int fd = open_dir(dir, false);
        struct stat st;
        int r;

        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        r = rm_rf_at(fd, name);
        return r < 0 ? r : 1;
}

int machine_config_remove(const char *nspawn_dir, const char *unit_dir, const char *network_dir,
                          const char *name) {
        _cleanup_close_ int nd = -EBADF;
        _cleanup_free_ char *dn = NULL;
        int r = 0, k;

        assert(name);

        dn = dropin_dir_name(name);
        if (!dn)
                return -ENOMEM;

        nd = open_dir(nspawn_dir, false);
        if (nd >= 0) {
                if (unlinkat(nd, strjoina(name, ".nspawn"), 0) >= 0)
                        r = 1;
                else if (errno != ENOENT)
                        return -errno;
        } else if (nd != -ENOENT)
                return nd;

        k = remove_tree_in(unit_dir, dn);
        if (k < 0)
                return k;
        r = r || k;
        k = remove_tree_in(network_dir, name);
        if (k < 0)
                return k;
        return r || k;
}
