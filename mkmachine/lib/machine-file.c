/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "machine-config.h"
#include "machine-file.h"
#include "path-util.h"
#include "recipe.h"
#include "store.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"

static const char* const machine_source_type_table[_MACHINE_SOURCE_TYPE_MAX] = {
        [MACHINE_SOURCE_RECIPE] = "recipe",
        [MACHINE_SOURCE_TAR]    = "tar",
        [MACHINE_SOURCE_PULL]   = "pull",
        [MACHINE_SOURCE_OCI]    = "oci",
};
DEFINE_STRING_TABLE_LOOKUP(machine_source_type, MachineSourceType);

static const char* const machine_install_table[_MACHINE_INSTALL_MAX] = {
        [MACHINE_INSTALL_NONE]       = "",
        [MACHINE_INSTALL_MACHINES]   = "machines.target",
        [MACHINE_INSTALL_MULTI_USER] = "multi-user.target",
};
DEFINE_STRING_TABLE_LOOKUP(machine_install, MachineInstall);

MachineFile* machine_file_free(MachineFile *m) {
        if (!m)
                return NULL;
        free(m->name);
        free(m->source);
        nspawn_settings_done(&m->settings);
        return mfree(m);
}

static bool is_tar_name(const char *s) {
        static const char *const suffixes[] = {
                ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
        };

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (endswith(s, suffixes[i]))
                        return true;
        return false;
}

int machine_source_classify(const char *s, MachineSourceType *ret) {
        const char *rest;

        assert(ret);

        if (isempty(s))
                return -EINVAL;
        if ((rest = startswith(s, "docker://"))) {
                if (isempty(rest) || strpbrk(rest, " \t\n"))
                        return -EINVAL;
                *ret = MACHINE_SOURCE_PULL;
                return 0;
        }
        if ((rest = startswith(s, "oci:"))) {
                /* The build step runs from "/": the layout must be named absolutely. */
                if (!path_is_normalized_absolute(rest))
                        return -EINVAL;
                *ret = MACHINE_SOURCE_OCI;
                return 0;
        }
        if (!strchr(s, '/')) {
                /* A bare file name would be looked up relative to wherever the build runs. */
                if (!recipe_name_is_valid(s) || is_tar_name(s) || endswith(s, ".conf"))
                        return -EINVAL;
                *ret = MACHINE_SOURCE_RECIPE;
                return 0;
        }
        if (!path_is_normalized_absolute(s))
                return -EINVAL;
        if (is_tar_name(s)) {
                *ret = MACHINE_SOURCE_TAR;
                return 0;
        }
        if (endswith(s, ".conf")) {
                *ret = MACHINE_SOURCE_RECIPE;
                return 0;
        }
        return -EINVAL;
}

/* Assigns one key of [Machine]. -EBADMSG with a reason for a bad value or an unknown key. */
static int machine_assign(MachineFile *m, const char *key, const char *value, bool *exec_set,
                          const char **reterr_reason) {
        NspawnSettings *s = &m->settings;
        int r;

#define BAD(reason) ({ *reterr_reason = (reason); -EBADMSG; })
        if (streq(key, "Source")) {
                MachineSourceType t;

                if (machine_source_classify(value, &t) < 0)
                        return BAD("Source= must be a recipe name, an absolute path to a recipe (.conf) "
                                   "or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz, .tar.bz2), "
                                   "docker://REFERENCE or oci:/DIR");
                free(m->source);
                m->source = strdup(value);
                if (!m->source)
                        return -ENOMEM;
                m->source_type = t;
        } else if (streq(key, "Network")) {
                s->network_name = mfree(s->network_name);
                r = nspawn_settings_parse_network(s, value);
                if (r == -EINVAL)
                        return BAD("Network= must be veth, zone:NAME, bridge:IF, host or none");
                if (r < 0)
                        return r;
        } else if (streq(key, "Port")) {
                NspawnPort p;

                if (nspawn_port_parse(value, &p) < 0)
                        return BAD("Port= must be [tcp:|udp:]HOST[:GUEST] with port numbers 1…65535");
                r = nspawn_settings_add_port(s, &p);
                if (r == -EEXIST)
                        return BAD("this host port is forwarded twice");
                if (r == -E2BIG)
                        return BAD("too many Port= lines");
                if (r < 0)
                        return r;
        } else if (streq(key, "Bind")) {
                NspawnBind b = {};

                r = nspawn_bind_parse(value, &b);
                if (r == -EINVAL)
                        return BAD("Bind= must be SRC[:DST][:ro|:idmap|:noidmap] with absolute paths "
                                   "without ':'");
                if (r < 0)
                        return r;
                r = nspawn_settings_add_bind(s, &b);
                free(b.source);
                free(b.destination);
                if (r == -EEXIST)
                        return BAD("this destination is bound twice");
                if (r == -E2BIG)
                        return BAD("too many Bind= lines");
                if (r < 0)
                        return r;
        } else if (streq(key, "PrivateUsers")) {
                s->private_users = private_users_mode_from_string(value);
                if (s->private_users < 0)
                        return BAD("PrivateUsers= must be pick, identity or no");
        } else if (streq(key, "Boot")) {
                s->boot = parse_boolean(value);
                if (s->boot < 0)
                        return BAD("Boot= must be yes or no");
        } else if (streq(key, "Exec")) {
                char **l = NULL;

                if (split_quoted(value, &l) < 0)
                        return BAD("Exec= has an unterminated quote");
                STRV_FOREACH(w, l)
                        if (nspawn_word_check(*w) < 0) {
                                strv_free(l);
                                return BAD("Exec= has a control character (a \\n?) that systemd-nspawn's "
                                           "Parameters= cannot carry");
                        }
                strv_free(s->parameters);
                s->parameters = l;
                *exec_set = true;
        } else if (streq(key, "Environment")) {
                _cleanup_strv_free_ char **l = NULL;

                /* As in unit files: one or more KEY=VALUE words, quoted where they have spaces. */
                if (split_quoted(value, &l) < 0)
                        return BAD("Environment= has an unterminated quote");
                if (strv_length(l) == 0)
                        return BAD("Environment= must be KEY=VALUE");
                STRV_FOREACH(e, l) {
                        size_t n = strcspn(*e, "=");

                        if ((*e)[n] != '=' || !nspawn_env_name_is_valid(*e, n))
                                return BAD("Environment= must be KEY=VALUE, KEY of letters, digits and _");
                        if (nspawn_word_check(*e + n + 1) < 0)
                                return BAD("Environment= has a control character (a \\n?) that "
                                           "systemd-nspawn's Environment= cannot carry");
                        r = strv_extend(&s->environment, *e);
                        if (r < 0)
                                return r;
                }
        } else if (streq(key, "Restart")) {
                m->restart = restart_policy_from_string(value);
                if (m->restart < 0)
                        return BAD("Restart= must be no, on-failure or always");
        } else
                return BAD("unknown key in [Machine]");
#undef BAD
        return 0;
}

int machine_file_parse(FILE *f, const char *name, MachineFile **ret, unsigned *reterr_line,
                       const char **reterr_reason) {
        _cleanup_(machine_file_freep) MachineFile *m = NULL;
        _cleanup_(ini_freep) IniFile *ini = NULL;
        const char *reason = NULL;
        bool exec_set = false;
        unsigned line = 0;
        int r;

        assert(f);
        assert(name);
        assert(ret);

        if (!machine_name_is_valid(name))
                return -EINVAL;

        m = calloc(1, sizeof(MachineFile));
        if (!m)
                return -ENOMEM;
        nspawn_settings_init(&m->settings);
        m->source_type = _MACHINE_SOURCE_TYPE_INVALID;
        m->restart = RESTART_NO;
        m->install = MACHINE_INSTALL_NONE;
        m->name = strdup(name);
        if (!m->name)
                return -ENOMEM;

        r = ini_parse(f, &ini, &line);
        if (r == -EBADMSG) {
                reason = "not a section header, a comment or a KEY=VALUE line";
                goto bad;
        }
        if (r == -E2BIG) {
                line = 0;
                reason = "too many lines";
                goto bad;
        }
        if (r < 0)
                return r;

        INI_FOREACH(l, ini) {
                line = l->line;
                if (!l->key) {
                        /* Section headers: only ours. Comments and blank lines have no section change. */
                        if (l->section && l->raw && l->raw[strspn(l->raw, " \t")] == '[' &&
                            !streq(l->section, "Machine") && !streq(l->section, "Install")) {
                                reason = "unknown section (use [Machine] and [Install])";
                                goto bad;
                        }
                        continue;
                }

                if (streq(l->section, "Machine")) {
                        r = machine_assign(m, l->key, l->value, &exec_set, &reason);
                        if (r == -EBADMSG)
                                goto bad;
                        if (r < 0)
                                return r;
                } else if (streq(l->section, "Install") && streq(l->key, "WantedBy")) {
                        if (isempty(l->value))
                                m->install = MACHINE_INSTALL_NONE;
                        else {
                                m->install = machine_install_from_string(l->value);
                                if (m->install <= MACHINE_INSTALL_NONE) {
                                        m->install = MACHINE_INSTALL_NONE;
                                        reason = "WantedBy= must be machines.target or multi-user.target";
                                        goto bad;
                                }
                        }
                } else {
                        reason = streq(l->section, "Install") ? "unknown key in [Install]" :
                                "unknown section (use [Machine] and [Install])";
                        goto bad;
                }
        }

        if (!m->source) {
                line = 0;
                reason = "no Source= in [Machine]";
                goto bad;
        }
        if (exec_set && m->settings.boot > 0) {
                line = 0;
                reason = "Exec= and Boot=yes exclude each other";
                goto bad;
        }

        /* What a new machine created with settings options gets (machine_glue_prepare()), so that the
         * generated file says everything and does not depend on the unit's command line. */
        if (exec_set)
                m->settings.boot = 0;
        if (m->settings.boot < 0)
                m->settings.boot = 1;
        if (m->settings.boot == 0 && !m->settings.parameters) {
                /* Boot=no without Exec=: the image's shell, as "--exec" alone. */
                m->settings.parameters = calloc(1, sizeof(char*));
                if (!m->settings.parameters)
                        return -ENOMEM;
        }
        if (m->settings.network < 0)
                m->settings.network = NETWORK_VETH;
        if (m->settings.private_users < 0)
                m->settings.private_users = PRIVATE_USERS_PICK;
        if (m->settings.private_users != PRIVATE_USERS_NO)
                nspawn_settings_idmap_binds(&m->settings);
        if ((m->settings.network == NETWORK_HOST || m->settings.network == NETWORK_NONE) &&
            m->settings.n_ports > 0) {
                line = 0;
                reason = "Port= needs a private network (Network=veth, zone:NAME or bridge:IF)";
                goto bad;
        }
        /* An application on a private network: the resolv.conf that its unit's drop-in writes before
         * every start (see machine-config.h). */
        if (nspawn_settings_is_app_network(&m->settings) &&
            nspawn_settings_set_dns_bind(&m->settings, MACHINE_NETWORK_DIR_DEFAULT, name, true) < 0)
                return -ENOMEM;
        m->settings.ports_set = m->settings.binds_set = true;
        if (!m->settings.environment) {
                m->settings.environment = calloc(1, sizeof(char*));
                if (!m->settings.environment)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(m);
        return 0;

bad:
        if (reterr_line)
                *reterr_line = line;
        if (reterr_reason)
                *reterr_reason = reason;
        return -EBADMSG;
}

int machine_file_load(const char *dir, const char *name, MachineFile **ret, unsigned *reterr_line,
                      const char **reterr_reason) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *path = NULL;

        assert(dir);
        assert(name);

        if (!machine_name_is_valid(name))
                return -EINVAL;
        if (asprintf(&path, "%s/%s" MACHINE_FILE_SUFFIX, dir, name) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        return machine_file_parse(f, name, ret, reterr_line, reterr_reason);
}

char* machine_file_name_from_filename(const char *filename) {
        const char *e;
        char *n;

        if (!filename || filename[0] == '.')
                return NULL;
        e = endswith(filename, MACHINE_FILE_SUFFIX);
        if (!e || e == filename)
                return NULL;
        n = strndup(filename, e - filename);
        if (n && !machine_name_is_valid(n))
                n = mfree(n);
        return n;
}

int machine_file_format_nspawn(const MachineFile *m, const char *source_path, char **ret) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        assert(m);
        assert(source_path);
        assert(ret);

        if (strchr(source_path, '\n'))
                return -EINVAL;

        r = ini_new(&ini);
        if (r < 0)
                return r;
        r = nspawn_settings_apply(&m->settings, ini);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        /* The marker on the first line lets the generator recognise (and remove) its own files. */
        fprintf(f, "# Generated by mkmachine-generator from %s: edit that file, not this one.\n",
                source_path);
        r = ini_write(ini, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}
