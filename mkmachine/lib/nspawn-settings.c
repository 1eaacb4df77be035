/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-util.h"
#include "nspawn-settings.h"
#include "path-util.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"
#include "utf8.h"

static const char* const network_mode_table[_NETWORK_MODE_MAX] = {
        [NETWORK_VETH]   = "veth",
        [NETWORK_ZONE]   = "zone",
        [NETWORK_BRIDGE] = "bridge",
        [NETWORK_HOST]   = "host",
        [NETWORK_NONE]   = "none",
};
DEFINE_STRING_TABLE_LOOKUP(network_mode, NetworkMode);

static const char* const private_users_mode_table[_PRIVATE_USERS_MODE_MAX] = {
        [PRIVATE_USERS_PICK]     = "pick",
        [PRIVATE_USERS_IDENTITY] = "identity",
        [PRIVATE_USERS_NO]       = "no",
};
DEFINE_STRING_TABLE_LOOKUP(private_users_mode, PrivateUsersMode);

static const char* const port_protocol_table[_PORT_PROTOCOL_MAX] = {
        [PORT_TCP] = "tcp",
        [PORT_UDP] = "udp",
};
DEFINE_STRING_TABLE_LOOKUP(port_protocol, PortProtocol);

void nspawn_settings_init(NspawnSettings *s) {
        *s = (NspawnSettings) {
                .network = _NETWORK_MODE_INVALID,
                .private_users = _PRIVATE_USERS_MODE_INVALID,
                .boot = -1,
        };
}

static void nspawn_bind_done(NspawnBind *b) {
        b->source = mfree(b->source);
        b->destination = mfree(b->destination);
}

void nspawn_settings_done(NspawnSettings *s) {
        if (!s)
                return;
        free(s->network_name);
        free(s->ports);
        for (size_t i = 0; i < s->n_binds; i++)
                nspawn_bind_done(s->binds + i);
        free(s->binds);
        strv_free(s->parameters);
        strv_free(s->environment);
        free(s->working_directory);
        free(s->user);
        nspawn_settings_init(s);
}

/* Interface and zone names: what the kernel accepts for a link name after the "vz-" prefix. */
static bool link_name_is_valid(const char *s, size_t max) {
        if (isempty(s) || strlen(s) > max)
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *c))
                        return false;
        return true;
}

int nspawn_settings_parse_network(NspawnSettings *s, const char *value) {
        const char *arg = NULL;
        NetworkMode m;
        char *n = NULL;

        assert(s);
        assert(value);

        if ((arg = startswith(value, "zone:")))
                m = NETWORK_ZONE;
        else if ((arg = startswith(value, "bridge:")))
                m = NETWORK_BRIDGE;
        else {
                m = network_mode_from_string(value);
                if (m < 0 || IN_SET_CHAR((char) m, NETWORK_ZONE, NETWORK_BRIDGE))
                        return -EINVAL;
        }

        if (arg) {
                /* Zones become "vz-NAME" links: 15 - 3 characters. */
                if (!link_name_is_valid(arg, m == NETWORK_ZONE ? 12 : 15))
                        return -EINVAL;
                n = strdup(arg);
                if (!n)
                        return -ENOMEM;
        }

        free(s->network_name);
        s->network_name = n;
        s->network = m;
        return 0;
}

static int parse_port_number(const char *s, size_t n, uint16_t *ret) {
        unsigned v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

int nspawn_port_parse(const char *value, NspawnPort *ret) {
        NspawnPort p = { .protocol = PORT_TCP };
        const char *rest = value, *colon;
        int r;

        assert(value);
        assert(ret);

        if ((rest = startswith(value, "tcp:")))
                p.protocol = PORT_TCP;
        else if ((rest = startswith(value, "udp:")))
                p.protocol = PORT_UDP;
        else
                rest = value;

        colon = strchr(rest, ':');
        r = parse_port_number(rest, colon ? (size_t) (colon - rest) : strlen(rest), &p.host);
        if (r < 0)
                return r;
        if (colon) {
                r = parse_port_number(colon + 1, strlen(colon + 1), &p.guest);
                if (r < 0)
                        return r;
        } else
                p.guest = p.host;

        *ret = p;
        return 0;
}

char* nspawn_port_format(const NspawnPort *p, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s:%u:%u", port_protocol_to_string(p->protocol), p->host, p->guest);
        return buf;
}

int nspawn_bind_parse(const char *value, NspawnBind *ret) {
        _cleanup_free_ char *source = NULL, *destination = NULL;
        bool ro = false, idmap = false, idmap_set = false;
        const char *c1, *c2;

        assert(value);
        assert(ret);

        c1 = strchr(value, ':');
        source = c1 ? strndup(value, (size_t) (c1 - value)) : strdup(value);
        if (!source)
                return -ENOMEM;

        if (c1) {
                c2 = strchr(c1 + 1, ':');
                destination = c2 ? strndup(c1 + 1, (size_t) (c2 - c1 - 1)) : strdup(c1 + 1);
                if (!destination)
                        return -ENOMEM;

                if (c2) {
                        const char *o = c2 + 1;

                        if (isempty(o))
                                return -EINVAL;
                        while (*o) {
                                size_t n = strcspn(o, ",");

                                if (n == 2 && strncmp(o, "ro", 2) == 0)
                                        ro = true;
                                else if (n == 2 && strncmp(o, "rw", 2) == 0)
                                        ro = false;
                                else if (n == 5 && strncmp(o, "idmap", 5) == 0)
                                        idmap = idmap_set = true;
                                else if (n == 7 && strncmp(o, "noidmap", 7) == 0) {
                                        idmap = false;
                                        idmap_set = true;
                                }
                                else
                                        return -EINVAL;
                                o += n;
                                if (*o == ',' && *++o == 0)
                                        return -EINVAL;
                        }
                }
        } else {
                destination = strdup(source);
                if (!destination)
                        return -ENOMEM;
        }

        if (!path_is_normalized_absolute(source) || !path_is_normalized_absolute(destination))
                return -EINVAL;
        if (streq(destination, "/"))
                return -EINVAL;

        *ret = (NspawnBind) {
                .source = TAKE_PTR(source),
                .destination = TAKE_PTR(destination),
                .read_only = ro,
                .idmap = idmap,
                .idmap_set = idmap_set,
        };
        return 0;
}

int nspawn_bind_format(const NspawnBind *b, char **ret) {
        assert(b);
        assert(ret);

        if (asprintf(ret, "%s:%s%s", b->source, b->destination, b->idmap ? ":idmap" : "") < 0)
                return -ENOMEM;
        return 0;
}

int nspawn_settings_add_port(NspawnSettings *s, const NspawnPort *p) {
        NspawnPort *n;

        if (s->n_ports >= NSPAWN_PORTS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < s->n_ports; i++)
                if (s->ports[i].protocol == p->protocol && s->ports[i].host == p->host)
                        return -EEXIST;

        n = realloc(s->ports, sizeof(NspawnPort) * (s->n_ports + 1));
        if (!n)
                return -ENOMEM;
        s->ports = n;
        s->ports[s->n_ports++] = *p;
        s->ports_set = true;
        return 0;
}

int nspawn_settings_add_bind(NspawnSettings *s, NspawnBind *b) {
        NspawnBind *n;

        if (s->n_binds >= NSPAWN_BINDS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < s->n_binds; i++)
                if (streq(s->binds[i].destination, b->destination))
                        return -EEXIST;

        n = realloc(s->binds, sizeof(NspawnBind) * (s->n_binds + 1));
        if (!n)
                return -ENOMEM;
        s->binds = n;
        s->binds[s->n_binds++] = *b;
        *b = (NspawnBind) {};
        s->binds_set = true;
        return 0;
}

/* systemd's WHITESPACE, the separators of config_parse_strv()'s words. */
#define NSPAWN_WHITESPACE " \t\n\r"

int nspawn_word_check(const char *w) {
        assert(w);

        for (const char *c = w; *c; c++)
                if (((unsigned char) *c < ' ' && *c != '\t') || *c == 0x7f)
                        return -EINVAL;
        return utf8_is_valid(w) ? 0 : -EINVAL;
}

static bool word_is_plain(const char *w) {
        if (isempty(w))
                return false;
        for (const char *c = w; *c; c++)
                if (strchr(NSPAWN_WHITESPACE "\"'\\", *c))
                        return false;
        return true;
}

/* systemd-nspawn reads Parameters= and Environment= with config_parse_strv(), that is
 * extract_first_word(EXTRACT_UNQUOTE|EXTRACT_RETAIN_ESCAPE), in 252 and in 257+ alike: words split at
 * white space; a single or double quote anywhere in a word opens a quoted run that ends at the same
 * quote, and the quotes are removed; a backslash is an ordinary character, inside quotes too. So no
 * escape exists: a word is written as quoted runs, each in the quote it does not contain. A word with
 * a backslash is quoted too, so that no line ends in one (a continuation). */
static int word_quote(FILE *f, const char *w) {
        char cur = 0;

        if (word_is_plain(w)) {
                fputs(w, f);
                return 0;
        }
        for (const char *c = w; *c; c++) {
                char want = *c == '"' ? '\'' : *c == '\'' ? '"' : cur ?: '"';

                if (want != cur) {
                        if (cur)
                                fputc(cur, f);
                        fputc(want, f);
                        cur = want;
                }
                fputc(*c, f);
        }
        if (!cur)
                fputs("\"\"", f);
        else
                fputc(cur, f);
        return 0;
}

int nspawn_words_quote(char * const *l, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t sz = 0;
        FILE *f;
        int r;

        assert(ret);

        STRV_FOREACH(w, l) {
                r = nspawn_word_check(*w);
                if (r < 0)
                        return r;
        }

        f = open_memstream(&buf, &sz);
        if (!f)
                return -ENOMEM;
        STRV_FOREACH(w, l) {
                if (w != l)
                        fputc(' ', f);
                (void) word_quote(f, *w);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Reads one word at *p (which is not at a separator) into w (room for strlen(*p) + 1) and moves *p past
 * it; -EINVAL for what the grammar refuses. */
typedef int (*WordParser)(const char **p, char *w);

/* The words of s, split at separators by parse_word. */
static int split_words(const char *s, const char *separators, WordParser parse_word, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p = s;
        int r;

        assert(s);
        assert(ret);

        for (;;) {
                _cleanup_free_ char *w = NULL;

                p += strspn(p, separators);
                if (!*p)
                        break;

                w = malloc(strlen(p) + 1);
                if (!w)
                        return -ENOMEM;
                r = parse_word(&p, w);
                if (r < 0)
                        return r;

                r = strv_push(&l, w);
                if (r < 0)
                        return r;
                TAKE_PTR(w);
        }

        *ret = TAKE_PTR(l);
        return 0;
}

static int nspawn_word_parse(const char **p, char *w) {
        const char *c = *p;
        size_t n = 0;
        char quote = 0;

        for (; *c; c++) {
                if (quote) {
                        if (*c == quote)
                                quote = 0;
                        else
                                w[n++] = *c;
                } else if (*c == '"' || *c == '\'')
                        quote = *c;
                else if (strchr(NSPAWN_WHITESPACE, *c))
                        break;
                else
                        w[n++] = *c;
        }
        /* systemd-nspawn ignores the whole line then ("Invalid syntax, ignoring"). */
        if (quote)
                return -EINVAL;
        w[n] = 0;
        *p = c;
        return 0;
}

int nspawn_words_split(const char *s, char ***ret) {
        return split_words(s, NSPAWN_WHITESPACE, nspawn_word_parse, ret);
}

bool nspawn_env_name_is_valid(const char *s, size_t n) {
        if (n == 0 || n > 256 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", s[i]))
                        return false;
        return true;
}

bool nspawn_user_is_valid(const char *s) {
        size_t n = strlen(s);

        /* What systemd-nspawn's User= takes (a name it looks up inside with getent, or a number) and
         * useradd would create: no quotes, no white space, nothing a shell or a config parser sees. */
        if (n == 0 || n > 256 || s[0] == '-' || s[0] == '.')
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
                        return false;
        return true;
}

bool nspawn_path_is_valid(const char *p) {
        size_t n;

        if (!p || !path_is_normalized_absolute(p))
                return false;
        n = strlen(p);
        if (n >= PATH_MAX || strchr(NSPAWN_WHITESPACE, p[n - 1]) || p[n - 1] == '\\' || strchr(p, ':'))
                return false;
        return nspawn_word_check(p) >= 0 && !strpbrk(p, "\t\\");
}

/* Whether "key=" and the words as nspawn_words_quote() writes them fit a line ini_parse() reads back
 * (systemd itself reads lines of up to 1 MiB): measured on the very text that would be written. Words
 * that cannot be quoted are the callers' to report. */
static int quoted_line_fits(const char *key, char * const *words) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = nspawn_words_quote(words, &v);
        if (r < 0)
                return r == -EINVAL ? 1 : r;
        return strlen(key) + 1 + strlen(v) < INI_LINE_MAX;
}

int nspawn_settings_check(const NspawnSettings *s, char **reterr_message) {
        size_t i = 0;
        int r;

        assert(s);

        r = quoted_line_fits("Parameters", s->parameters);
        if (r < 0)
                return r;
        if (r == 0)
                return error_message(reterr_message, -E2BIG,
                                     "the command is longer than a settings line may be (%u KiB)",
                                     INI_LINE_MAX / 1024);
        STRV_FOREACH(e, s->environment) {
                r = quoted_line_fits("Environment", STRV_MAKE(*e));
                if (r < 0)
                        return r;
                if (r == 0)
                        return error_message(reterr_message, -E2BIG,
                                             "environment variable %.*s is longer than a settings line "
                                             "may be (%u KiB)", (int) MIN(strcspn(*e, "="), 64U), *e,
                                             INI_LINE_MAX / 1024);
        }

        STRV_FOREACH(w, s->parameters) {
                i++;
                if (nspawn_word_check(*w) < 0)
                        return error_message(reterr_message, -EINVAL,
                                             "argument %zu of the command holds a control character or "
                                             "is not UTF-8, which systemd-nspawn's Parameters= cannot "
                                             "carry", i);
        }
        STRV_FOREACH(e, s->environment) {
                size_t n = strcspn(*e, "=");

                if ((*e)[n] != '=' || !nspawn_env_name_is_valid(*e, n))
                        return error_message(reterr_message, -EINVAL,
                                             "environment entry '%.64s' is not NAME=VALUE with a name of "
                                             "letters, digits and '_'", *e);
                if (nspawn_word_check(*e + n + 1) < 0)
                        return error_message(reterr_message, -EINVAL,
                                             "the value of environment variable %.*s holds a control "
                                             "character or is not UTF-8", (int) MIN(n, 64U), *e);
        }
        if (s->working_directory && !nspawn_path_is_valid(s->working_directory))
                return error_message(reterr_message, -EINVAL,
                                     "working directory '%.64s' is not a normalized absolute path of "
                                     "printable characters", s->working_directory);
        if (s->user && !nspawn_user_is_valid(s->user))
                return error_message(reterr_message, -EINVAL,
                                     "user '%.64s' is not a user name or number", s->user);
        for (size_t b = 0; b < s->n_binds; b++)
                if (!nspawn_path_is_valid(s->binds[b].source) ||
                    !nspawn_path_is_valid(s->binds[b].destination))
                        return error_message(reterr_message, -EINVAL,
                                             "bind '%.64s:%.64s' needs normalized absolute paths without "
                                             "':', '\\', tabs or control characters", s->binds[b].source,
                                             s->binds[b].destination);
        if (s->network_name && !link_name_is_valid(s->network_name, 15))
                return error_message(reterr_message, -EINVAL, "'%.64s' is not an interface name",
                                     s->network_name);
        return 0;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

static int unit_word_parse(const char **p, char *w) {
        const char *c = *p;
        size_t n = 0;
        char quote = 0;

        for (; *c; c++) {
                if (!quote && strchr(" \t\n", *c))
                        break;
                if (!quote && (*c == '"' || *c == '\'')) {
                        quote = *c;
                        continue;
                }
                if (quote && *c == quote) {
                        quote = 0;
                        continue;
                }
                if (*c == '\\' && quote != '\'') {
                        c++;
                        switch (*c) {
                        case 0:   return -EINVAL;
                        case 'n': w[n++] = '\n'; break;
                        case 't': w[n++] = '\t'; break;
                        case 'x': {
                                int a = hex_value(c[1]), b = a >= 0 ? hex_value(c[2]) : -EINVAL;
                                if (a < 0 || b < 0 || (a == 0 && b == 0))
                                        return -EINVAL;
                                w[n++] = (char) (a * 16 + b);
                                c += 2;
                                break;
                        }
                        default:  w[n++] = *c;
                        }
                        continue;
                }
                w[n++] = *c;
        }
        if (quote)
                return -EINVAL;
        w[n] = 0;
        *p = c;
        return 0;
}

int split_quoted(const char *s, char ***ret) {
        return split_words(s, " \t\n", unit_word_parse, ret);
}

static int apply_network(const NspawnSettings *s, IniFile *ini) {
        static const char *const keys[] = { "VirtualEthernet", "Zone", "Bridge", "Private" };
        const char *values[ELEMENTSOF(keys)] = {};
        int r;

        switch (s->network) {
        case NETWORK_VETH:
                values[0] = "yes";
                break;
        case NETWORK_ZONE:
                values[1] = s->network_name;
                break;
        case NETWORK_BRIDGE:
                values[2] = s->network_name;
                break;
        case NETWORK_HOST:
                values[0] = "no";
                values[3] = "no";
                break;
        case NETWORK_NONE:
                values[0] = "no";
                values[3] = "yes";
                break;
        default:
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = ini_set(ini, "Network", keys[i], values[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_binds(const NspawnSettings *s, IniFile *ini) {
        _cleanup_strv_free_ char **rw = NULL, **ro = NULL;
        int r;

        for (size_t i = 0; i < s->n_binds; i++) {
                const NspawnBind *b = s->binds + i;
                char *v;

                r = nspawn_bind_format(b, &v);
                if (r < 0)
                        return r;
                r = strv_push(b->read_only ? &ro : &rw, v);
                if (r < 0) {
                        free(v);
                        return r;
                }
        }

        r = ini_set_strv(ini, "Files", "Bind", rw);
        if (r < 0)
                return r;
        return ini_set_strv(ini, "Files", "BindReadOnly", ro);
}

int nspawn_settings_apply(const NspawnSettings *s, IniFile *ini) {
        int r;

        assert(s);
        assert(ini);

        /* Nothing that systemd-nspawn would read differently from what we mean gets written. */
        r = nspawn_settings_check(s, NULL);
        if (r < 0)
                return r;

        if (s->boot >= 0) {
                r = ini_set(ini, "Exec", "Boot", s->boot ? "yes" : "no");
                if (r < 0)
                        return r;
        }
        if (s->parameters) {
                _cleanup_free_ char *v = NULL;

                r = nspawn_words_quote(s->parameters, &v);
                if (r < 0)
                        return r;
                r = ini_set(ini, "Exec", "Parameters", isempty(v) ? NULL : v);
                if (r < 0)
                        return r;
        }
        if (s->environment) {
                _cleanup_strv_free_ char **quoted = NULL;

                /* One Environment= line per variable keeps hand edits readable. */
                STRV_FOREACH(e, s->environment) {
                        char *one[2] = { *e, NULL }, *v;

                        r = nspawn_words_quote(one, &v);
                        if (r < 0)
                                return r;
                        r = strv_push(&quoted, v);
                        if (r < 0) {
                                free(v);
                                return r;
                        }
                }
                r = ini_set_strv(ini, "Exec", "Environment", quoted);
                if (r < 0)
                        return r;
        }
        if (s->working_directory) {
                r = ini_set(ini, "Exec", "WorkingDirectory", s->working_directory);
                if (r < 0)
                        return r;
        }
        if (s->user) {
                r = ini_set(ini, "Exec", "User", s->user);
                if (r < 0)
                        return r;
        }
        if (s->private_users >= 0) {
                r = ini_set(ini, "Exec", "PrivateUsers", private_users_mode_to_string(s->private_users));
                if (r < 0)
                        return r;
                /* With "pick", let nspawn use an idmapped mount where the kernel can (the tree stays
                 * owned by 0:0 on disk) and chown otherwise: what -U does in the unit. */
                r = ini_set(ini, "Files", "PrivateUsersOwnership",
                            s->private_users == PRIVATE_USERS_PICK ? "auto" : NULL);
                if (r < 0)
                        return r;
        }

        r = apply_network(s, ini);
        if (r < 0)
                return r;

        if (s->ports_set) {
                _cleanup_strv_free_ char **ports = NULL;

                for (size_t i = 0; i < s->n_ports; i++) {
                        char buf[NSPAWN_PORT_STRING_MAX];

                        r = strv_extend(&ports, nspawn_port_format(s->ports + i, buf, sizeof(buf)));
                        if (r < 0)
                                return r;
                }
                r = ini_set_strv(ini, "Network", "Port", ports);
                if (r < 0)
                        return r;
        }

        if (s->binds_set) {
                r = apply_binds(s, ini);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads one assignment of a key we manage into s. -EBADMSG for a value we cannot read, leaving s as it
 * was (systemd-nspawn too keeps the value before when it ignores an assignment). */
static int settings_line_parse(NspawnSettings *s, const IniLine *l, int *veth, int *private) {
        int r;

#define KEY(sec, k) (streq(l->section, sec) && streq(l->key, k))
        if (KEY("Exec", "Boot")) {
                r = parse_boolean(l->value);
                if (r < 0)
                        return -EBADMSG;
                s->boot = r;
        } else if (KEY("Exec", "Parameters")) {
                char **words = NULL;

                r = nspawn_words_split(l->value, &words);
                if (r < 0)
                        return r == -EINVAL ? -EBADMSG : r;
                strv_free(s->parameters);
                s->parameters = words;
        } else if (KEY("Exec", "Environment")) {
                _cleanup_strv_free_ char **words = NULL;

                r = nspawn_words_split(l->value, &words);
                if (r < 0)
                        return r == -EINVAL ? -EBADMSG : r;
                STRV_FOREACH(w, words) {
                        r = strv_extend(&s->environment, *w);
                        if (r < 0)
                                return r;
                }
        } else if (KEY("Exec", "WorkingDirectory") || KEY("Exec", "User")) {
                char **f = streq(l->key, "User") ? &s->user : &s->working_directory;
                char *v = strdup(l->value);

                if (!v)
                        return -ENOMEM;
                free(*f);
                *f = v;
        } else if (KEY("Exec", "PrivateUsers")) {
                s->private_users = private_users_mode_from_string(l->value);
                if (s->private_users < 0) {
                        int b = parse_boolean(l->value);
                        if (b < 0)
                                /* A number or range: an explicit UID base we leave alone. */
                                s->private_users = _PRIVATE_USERS_MODE_INVALID;
                        else
                                s->private_users = b ? PRIVATE_USERS_PICK : PRIVATE_USERS_NO;
                }
        } else if (KEY("Network", "VirtualEthernet") || KEY("Network", "Private")) {
                r = parse_boolean(l->value);
                if (r < 0)
                        return -EBADMSG;
                *(streq(l->key, "Private") ? private : veth) = r;
        } else if (KEY("Network", "Zone") || KEY("Network", "Bridge")) {
                const char *prefix = streq(l->key, "Zone") ? "zone:" : "bridge:";

                r = nspawn_settings_parse_network(s, strjoina(prefix, l->value));
                if (r < 0)
                        return r == -EINVAL ? -EBADMSG : r;
        } else if (KEY("Network", "Port")) {
                NspawnPort p;

                if (nspawn_port_parse(l->value, &p) < 0)
                        return -EBADMSG;
                r = nspawn_settings_add_port(s, &p);
                if (r < 0 && r != -EEXIST)
                        return r;
        } else if (KEY("Files", "Bind") || KEY("Files", "BindReadOnly")) {
                NspawnBind b = {};

                r = nspawn_bind_parse(l->value, &b);
                if (r < 0)
                        return r == -EINVAL ? -EBADMSG : r;
                b.read_only = b.read_only || streq(l->key, "BindReadOnly");
                r = nspawn_settings_add_bind(s, &b);
                nspawn_bind_done(&b);
                if (r < 0 && r != -EEXIST)
                        return r;
        }
#undef KEY
        return 0;
}

static int settings_from_ini(const IniFile *ini, bool lenient, NspawnSettings *ret, unsigned **ret_ignored,
                             size_t *ret_n_ignored, unsigned *reterr_line) {
        _cleanup_free_ unsigned *ignored = NULL;
        size_t n_ignored = 0;
        NspawnSettings s;
        int veth = -1, private = -1, r = 0;

        assert(ini);
        assert(ret);

        nspawn_settings_init(&s);

        INI_FOREACH(l, ini) {
                if (!l->key && !l->ignored)
                        continue;
                r = l->key ? settings_line_parse(&s, l, &veth, &private) : -EBADMSG;
                if (r == -EBADMSG && lenient) {
                        /* systemd-nspawn logs and skips such a line; so do we, and say which. */
                        unsigned *p = reallocarray(ignored, n_ignored + 1, sizeof(unsigned));
                        if (!p) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        ignored = p;
                        ignored[n_ignored++] = l->line;
                        continue;
                }
                if (r == -EBADMSG) {
                        if (reterr_line)
                                *reterr_line = l->line;
                        goto fail;
                }
                if (r < 0)
                        goto fail;
        }

        if (s.network < 0) {
                if (veth > 0)
                        s.network = NETWORK_VETH;
                else if (private == 0 && veth <= 0)
                        s.network = NETWORK_HOST;
                else if (private > 0)
                        s.network = NETWORK_NONE;
        }

        *ret = s;
        if (ret_ignored)
                *ret_ignored = TAKE_PTR(ignored);
        if (ret_n_ignored)
                *ret_n_ignored = n_ignored;
        return 0;

fail:
        nspawn_settings_done(&s);
        return r;
}

int nspawn_settings_from_ini(const IniFile *ini, NspawnSettings *ret, unsigned *reterr_line) {
        return settings_from_ini(ini, /* lenient= */ false, ret, NULL, NULL, reterr_line);
}

int nspawn_settings_from_ini_lenient(const IniFile *ini, NspawnSettings *ret, unsigned **ret_ignored,
                                     size_t *ret_n_ignored) {
        return settings_from_ini(ini, /* lenient= */ true, ret, ret_ignored, ret_n_ignored, NULL);
}

static int env_set(char ***l, const char *kv) {
        size_t n = strcspn(kv, "=");

        for (char **i = *l; i && *i; i++)
                if (strncmp(*i, kv, n) == 0 && (*i)[n] == '=') {
                        char *c = strdup(kv);
                        if (!c)
                                return -ENOMEM;
                        free(*i);
                        *i = c;
                        return 0;
                }
        return strv_extend(l, kv);
}

int nspawn_settings_merge_image(NspawnSettings *user, const NspawnSettings *image) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        if (user->boot < 0)
                user->boot = image->boot < 0 ? 1 : image->boot;

        if (image->environment || user->environment) {
                env = calloc(1, sizeof(char*));
                if (!env)
                        return -ENOMEM;
                STRV_FOREACH(i, image->environment) {
                        r = env_set(&env, *i);
                        if (r < 0)
                                return r;
                }
                STRV_FOREACH(i, user->environment) {
                        r = env_set(&env, *i);
                        if (r < 0)
                                return r;
                }
                strv_free(user->environment);
                user->environment = TAKE_PTR(env);
        }

        if (user->boot > 0) {
                /* Parameters= would become arguments of init. */
                if (strv_length(user->parameters) == 0)
                        user->parameters = strv_free(user->parameters);
                return 0;
        }

        if (strv_length(user->parameters) == 0 && image->parameters) {
                strv_free(user->parameters);
                user->parameters = NULL;
                r = strv_extend_strv(&user->parameters, image->parameters);
                if (r < 0)
                        return r;
        }
        if (!user->working_directory && image->working_directory) {
                user->working_directory = strdup(image->working_directory);
                if (!user->working_directory)
                        return -ENOMEM;
        }
        if (!user->user && image->user) {
                user->user = strdup(image->user);
                if (!user->user)
                        return -ENOMEM;
        }
        return 0;
}
