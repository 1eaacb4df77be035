/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "oci-reference.h"
#include "string-util.h"
#include "strv.h"

#define free_and_replace(a, b)              \
        ({                                  \
                free(a);                    \
                (a) = TAKE_PTR(b);          \
                0;                          \
        })

static char* strjoin3(const char *a, const char *b, const char *c) {
        char *s;

        if (asprintf(&s, "%s%s%s", a, b ?: "", c ?: "") < 0)
                return NULL;
        return s;
}

void oci_reference_done(OciReference *r) {
        r->registry = mfree(r->registry);
        r->repository = mfree(r->repository);
        r->tag = mfree(r->tag);
        r->digest = mfree(r->digest);
}

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_is_valid(const char *s, size_t n) {
        size_t i = 0;

        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_'))
                        i++;
                else if (s[i] == '_')
                        i += 2;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool repository_is_valid(const char *s) {
        size_t len = strlen(s);

        if (len == 0 || len > 255)
                return false;
        for (const char *p = s;;) {
                size_t n = strcspn(p, "/");
                if (!path_component_is_valid(p, n))
                        return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

/* host[:port]: DNS labels of [A-Za-z0-9-] joined by '.', or a bracketed IPv6 address, and a port. */
static bool registry_is_valid(const char *s) {
        const char *colon, *host_end;
        size_t len = strlen(s);

        if (len == 0 || len > 255)
                return false;
        if (s[0] == '[') {
                host_end = strchr(s, ']');
                if (!host_end || host_end == s + 1)
                        return false;
                for (const char *p = s + 1; p < host_end; p++)
                        if (!isxdigit((unsigned char) *p) && *p != ':' && *p != '.')
                                return false;
                host_end++;
                if (*host_end && *host_end != ':')
                        return false;
        } else {
                host_end = s + strcspn(s, ":");
                if (host_end == s)
                        return false;
                for (const char *p = s; p < host_end; p++) {
                        bool label_edge = p == s || p[-1] == '.' || p + 1 == host_end || p[1] == '.';
                        if (*p == '.') {
                                if (p == s || p[-1] == '.' || p + 1 == host_end)
                                        return false;
                        } else if (!isalnum((unsigned char) *p) && !(*p == '-' && !label_edge))
                                return false;
                }
        }
        colon = *host_end == ':' ? host_end : NULL;
        if (colon) {
                unsigned long port;
                char *e;

                if (!isdigit((unsigned char) colon[1]) || strlen(colon + 1) > 5)
                        return false;
                port = strtoul(colon + 1, &e, 10);
                if (*e || port == 0 || port > 65535)
                        return false;
        }
        return true;
}

static bool tag_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 128 || !(isalnum((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

static bool is_docker_hub(const char *registry) {
        return streq(registry, DOCKER_HUB) || streq(registry, "index.docker.io");
}

static int apply_registry(OciReference *r, const char *registry) {
        char *reg, *repo;

        if (!registry_is_valid(registry))
                return -EINVAL;
        reg = strdup(is_docker_hub(registry) ? DOCKER_HUB : registry);
        if (!reg)
                return -ENOMEM;
        if (is_docker_hub(registry) && !strchr(r->repository, '/')) {
                repo = strjoin3("library/", r->repository, NULL);
                if (!repo) {
                        free(reg);
                        return -ENOMEM;
                }
                free(r->repository);
                r->repository = repo;
        }
        free(r->registry);
        r->registry = reg;
        return 0;
}

int oci_reference_set_registry(OciReference *r, const char *registry) {
        return apply_registry(r, registry);
}

int oci_reference_parse(const char *s, OciReference *ret) {
        _cleanup_(oci_reference_done) OciReference ref = {};
        _cleanup_free_ char *copy = NULL, *registry = NULL;
        char *at, *rest, *slash, *colon;
        int r;

        if (!s || strlen(s) > OCI_REFERENCE_MAX)
                return -EINVAL;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;

        at = strchr(copy, '@');
        if (at) {
                *at = 0;
                r = oci_digest_parse(at + 1, NULL);
                if (r < 0)
                        return r == -EOPNOTSUPP ? r : -EINVAL;
                ref.digest = strdup(at + 1);
                if (!ref.digest)
                        return -ENOMEM;
        }

        rest = copy;
        slash = strchr(copy, '/');
        if (slash) {
                size_t n = (size_t) (slash - copy);
                if (memchr(copy, '.', n) || memchr(copy, ':', n) || copy[0] == '[' ||
                    (n == 9 && startswith(copy, "localhost"))) {
                        registry = strndup(copy, n);
                        if (!registry)
                                return -ENOMEM;
                        rest = slash + 1;
                }
        }

        /* The tag is after the last ':' of the repository part (the registry's port is gone by now). */
        colon = strrchr(rest, ':');
        if (colon) {
                *colon = 0;
                if (!tag_is_valid(colon + 1))
                        return -EINVAL;
                ref.tag = strdup(colon + 1);
                if (!ref.tag)
                        return -ENOMEM;
        } else if (!ref.digest) {
                ref.tag = strdup("latest");
                if (!ref.tag)
                        return -ENOMEM;
        }

        if (!repository_is_valid(rest))
                return -EINVAL;
        ref.repository = strdup(rest);
        if (!ref.repository)
                return -ENOMEM;

        if (registry) {
                r = apply_registry(&ref, registry);
                if (r < 0)
                        return r;
        }

        *ret = ref;
        ref = (OciReference) {};
        return 0;
}

const char* oci_reference_endpoint(const OciReference *r) {
        if (r->registry && streq(r->registry, DOCKER_HUB))
                return DOCKER_HUB_ENDPOINT;
        return r->registry;
}

int oci_reference_format(const OciReference *r, char **ret) {
        if (asprintf(ret, "%s%s%s%s%s%s%s", r->registry ?: "", r->registry ? "/" : "", r->repository,
                     r->tag ? ":" : "", r->tag ?: "", r->digest ? "@" : "", r->digest ?: "") < 0)
                return -ENOMEM;
        return 0;
}

int oci_reference_machine_name(const OciReference *r, char **ret) {
        const char *last = strrchr(r->repository, '/');
        _cleanup_free_ char *name = NULL;
        size_t n = 0;

        last = last ? last + 1 : r->repository;
        name = malloc(strlen(last) + 1);
        if (!name)
                return -ENOMEM;
        for (const char *p = last; *p; p++) {
                if (is_lower_alnum(*p))
                        name[n++] = *p;
                else if (n > 0 && name[n - 1] != '-')
                        name[n++] = '-';
        }
        while (n > 0 && name[n - 1] == '-')
                n--;
        if (n == 0)
                return -EINVAL;
        name[MIN(n, 64U)] = 0;
        while (n > 0 && name[strlen(name) - 1] == '-')
                name[strlen(name) - 1] = 0;
        *ret = TAKE_PTR(name);
        return 0;
}

void auth_challenge_done(AuthChallenge *c) {
        c->realm = mfree(c->realm);
        c->service = mfree(c->service);
        c->scope = mfree(c->scope);
}

static const char* skip_space(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static bool is_token_char(char c) {
        return isalnum((unsigned char) c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One parameter value: a token or a quoted string. */
static int parse_value(const char **p, char **ret) {
        const char *s = *p;
        _cleanup_free_ char *v = NULL;
        size_t n = 0;

        v = malloc(strlen(s) + 1);
        if (!v)
                return -ENOMEM;
        if (*s == '"') {
                for (s++;; s++) {
                        if (!*s)
                                return -EINVAL;
                        if (*s == '"')
                                break;
                        if (*s == '\\') {
                                s++;
                                if (!*s)
                                        return -EINVAL;
                        }
                        v[n++] = *s;
                }
                s++;
        } else {
                /* token68 characters too ('/' and '=' are common in unquoted realms). */
                while (is_token_char(*s) || *s == '/' || *s == ':' || *s == '=')
                        v[n++] = *s++;
                if (n == 0)
                        return -EINVAL;
        }
        v[n] = 0;
        *p = s;
        *ret = TAKE_PTR(v);
        return 0;
}

int auth_challenge_parse(const char *s, AuthChallenge *ret) {
        const char *p = s;
        int r;

        if (!s)
                return -EINVAL;

        for (;;) {
                _cleanup_(auth_challenge_done) AuthChallenge c = { .scheme = _AUTH_SCHEME_INVALID };
                size_t n;

                p += strspn(p, " \t,");
                if (!*p)
                        return -EOPNOTSUPP;
                n = 0;
                while (is_token_char(p[n]))
                        n++;
                if (n == 0)
                        return -EINVAL;
                if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
                        c.scheme = AUTH_SCHEME_BEARER;
                else if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
                        c.scheme = AUTH_SCHEME_BASIC;
                p += n;

                /* Parameters: name=value, until the next scheme (a token not followed by '='). */
                for (;;) {
                        const char *q = p + strspn(p, " \t,"), *name;
                        _cleanup_free_ char *value = NULL;
                        size_t k = 0;

                        while (is_token_char(q[k]))
                                k++;
                        if (k == 0) {
                                if (*q)
                                        return -EINVAL;
                                p = q;
                                break;
                        }
                        name = q;
                        q = skip_space(q + k);
                        if (*q != '=' || q[1] == '=') {
                                /* The next challenge (or a token68, which we have no use for). */
                                p = name;
                                if (*q == '=') {
                                        p = q + strspn(q, "=");
                                        if (*p && *p != ',' && *p != ' ')
                                                return -EINVAL;
                                }
                                break;
                        }
                        q = skip_space(q + 1);
                        r = parse_value(&q, &value);
                        if (r < 0)
                                return r;
                        if (k == 5 && strncasecmp(name, "realm", 5) == 0)
                                free_and_replace(c.realm, value);
                        else if (k == 7 && strncasecmp(name, "service", 7) == 0)
                                free_and_replace(c.service, value);
                        else if (k == 5 && strncasecmp(name, "scope", 5) == 0)
                                free_and_replace(c.scope, value);
                        p = skip_space(q);
                        if (*p && *p != ',')
                                return -EINVAL;
                }

                if (c.scheme == AUTH_SCHEME_BEARER && isempty(c.realm))
                        return -EINVAL;
                if (c.scheme >= 0) {
                        *ret = c;
                        c = (AuthChallenge) {};
                        return 0;
                }
                if (!*p)
                        return -EOPNOTSUPP;
        }
}

/* base64("user:password") → user, password. */
static int decode_auth(const char *b64, char **ret_user, char **ret_password) {
        _cleanup_free_ unsigned char *buf = NULL;
        size_t len = strlen(b64), pad = 0;
        char *colon;
        int n;

        if (len == 0 || len % 4 != 0 || len > 64 * 1024)
                return -EINVAL;
        buf = malloc(len / 4 * 3 + 1);
        if (!buf)
                return -ENOMEM;
        n = EVP_DecodeBlock(buf, (const unsigned char*) b64, (int) len);
        if (n < 0)
                return -EINVAL;
        /* EVP_DecodeBlock() counts the padding as zero bytes. */
        if (b64[len - 1] == '=')
                pad++;
        if (b64[len - 2] == '=')
                pad++;
        n -= (int) pad;
        buf[n] = 0;
        if (memchr(buf, 0, (size_t) n))
                return -EINVAL;
        colon = strchr((char*) buf, ':');
        if (!colon || colon == (char*) buf)
                return -EINVAL;
        *colon = 0;
        *ret_user = strdup((char*) buf);
        *ret_password = strdup(colon + 1);
        if (!*ret_user || !*ret_password) {
                *ret_user = mfree(*ret_user);
                *ret_password = mfree(*ret_password);
                return -ENOMEM;
        }
        return 0;
}

/* The "auths" key that names registry/repository most specifically. */
static json_object* auth_find(json_object *auths, const char *registry, const char *repository) {
        _cleanup_free_ char *full = NULL;
        json_object *e;

        full = repository ? strjoin3(registry, "/", repository) : strdup(registry);
        if (!full)
                return NULL;
        for (;;) {
                if (json_object_object_get_ex(auths, full, &e))
                        return e;
                char *slash = strrchr(full, '/');
                if (!slash)
                        break;
                *slash = 0;
        }
        /* Docker's keys are URLs. */
        json_object_object_foreach(auths, key, val) {
                const char *k = startswith(key, "https://") ?: startswith(key, "http://");
                size_t n;

                if (!k)
                        continue;
                n = strcspn(k, "/");
                if ((strlen(registry) == n && strncmp(k, registry, n) == 0) ||
                    (streq(registry, DOCKER_HUB) && n == 15 && strncmp(k, "index.docker.io", 15) == 0))
                        return val;
        }
        return NULL;
}

int auth_json_lookup(const char *json, size_t size, const char *registry, const char *repository,
                     char **ret_user, char **ret_password) {
        json_tokener *tok;
        json_object *root, *auths, *entry, *auth;
        int r;

        if (size > 1024 * 1024 || size > INT32_MAX)
                return -EINVAL;
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        root = json_tokener_parse_ex(tok, json, (int) size);
        if (json_tokener_get_error(tok) != json_tokener_success ||
            (json_tokener_get_parse_end(tok) < size && json[json_tokener_get_parse_end(tok)] != 0 &&
             !isspace((unsigned char) json[json_tokener_get_parse_end(tok)]))) {
                json_object_put(root);
                root = NULL;
        }
        json_tokener_free(tok);
        if (!root || !json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                return -EINVAL;
        }

        r = -ENOENT;
        if (json_object_object_get_ex(root, "auths", &auths)) {
                if (!json_object_is_type(auths, json_type_object))
                        r = -EINVAL;
                else if ((entry = auth_find(auths, registry, repository))) {
                        if (!json_object_is_type(entry, json_type_object))
                                r = -EINVAL;
                        else if (json_object_object_get_ex(entry, "auth", &auth) &&
                                 json_object_is_type(auth, json_type_string))
                                r = decode_auth(json_object_get_string(auth), ret_user, ret_password);
                        else
                                r = -ENOENT;    /* e.g. only an identitytoken: not for us */
                }
        }
        json_object_put(root);
        return r;
}

int containers_registries_parse(const char *text, char ***ret, unsigned *ret_line) {
        _cleanup_strv_free_ char **list = NULL;
        bool found = false, in_array = false;
        unsigned line = 0;
        int r;

        for (const char *p = text; p && *p;) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *l = strndup(p, n);
                const char *q;

                if (!l)
                        return -ENOMEM;
                line++;
                p += n + (p[n] == '\n');
                q = skip_space(l);

                if (!in_array) {
                        if (*q == '[' )
                                break;          /* a table: top-level keys are over */
                        if (!startswith(q, "unqualified-search-registries"))
                                continue;
                        q = skip_space(q + strlen("unqualified-search-registries"));
                        if (*q != '=')
                                continue;
                        q = skip_space(q + 1);
                        if (*q != '[')
                                goto bad;
                        q++;
                        in_array = true;
                        found = true;
                        strv_free(list);
                        list = calloc(1, sizeof(char*));
                        if (!list)
                                return -ENOMEM;
                }

                /* Inside the array: quoted strings separated by commas, up to ']' (may span lines). */
                for (;;) {
                        q = skip_space(q);
                        if (*q == ',') {
                                q++;
                                continue;
                        }
                        if (*q == ']') {
                                in_array = false;
                                q = skip_space(q + 1);
                                if (*q && *q != '#')
                                        goto bad;
                                break;
                        }
                        if (*q == 0 || *q == '#')
                                break;
                        if (*q != '"' && *q != '\'')
                                goto bad;
                        {
                                char quote = *q;
                                const char *e = strchr(q + 1, quote);
                                _cleanup_free_ char *v = NULL;

                                if (!e)
                                        goto bad;
                                v = strndup(q + 1, (size_t) (e - q - 1));
                                if (!v)
                                        return -ENOMEM;
                                if (!registry_is_valid(v))
                                        goto bad;
                                r = strv_extend(&list, v);
                                if (r < 0)
                                        return r;
                                q = e + 1;
                        }
                }
        }
        if (in_array)
                goto bad;

        *ret = found ? TAKE_PTR(list) : NULL;
        return 0;

bad:
        if (ret_line)
                *ret_line = line;
        return -EINVAL;
}

void registry_settings_done(RegistrySettings *s) {
        s->ca_file = mfree(s->ca_file);
}

int registry_settings_parse(const char *text, const char *registry, RegistrySettings *ret,
                            unsigned *ret_line) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        RegistrySettings s = { .tls_verify = -1 };
        unsigned line = 0;
        FILE *f;
        int r;

        f = fmemopen((void*) text, strlen(text), "r");
        if (!f)
                return -errno;
        r = ini_parse(f, &ini, &line);
        fclose(f);
        if (r < 0) {
                if (ret_line)
                        *ret_line = line;
                return r == -ENOMEM ? r : -EINVAL;
        }

        INI_FOREACH(l, ini) {
                const char *name;

                if (!l->key || !l->section)
                        continue;
                name = startswith(l->section, "Registry");
                if (!name || (*name != ' ' && *name != '\t'))
                        continue;
                name = skip_space(name);
                /* [Registry "host:port"] or [Registry host:port] */
                if (*name == '"') {
                        size_t n = strlen(name);
                        if (n < 2 || name[n - 1] != '"' || strlen(registry) != n - 2 ||
                            strncmp(name + 1, registry, n - 2) != 0)
                                continue;
                } else if (!streq(name, registry))
                        continue;

                if (streq(l->key, "TLSVerify")) {
                        s.tls_verify = parse_boolean(l->value);
                        if (s.tls_verify < 0)
                                goto bad;
                } else if (streq(l->key, "CA")) {
                        if (l->value[0] != '/')
                                goto bad;
                        free(s.ca_file);
                        s.ca_file = strdup(l->value);
                        if (!s.ca_file)
                                return -ENOMEM;
                }
                continue;
        bad:
                registry_settings_done(&s);
                if (ret_line)
                        *ret_line = l->line;
                return -EINVAL;
        }

        *ret = s;
        return 0;
}
