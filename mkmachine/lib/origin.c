/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "error-util.h"
#include "origin.h"
#include "store.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"

static const char* const origin_type_table[_ORIGIN_TYPE_MAX] = {
        [ORIGIN_TAR]       = "tar",
        [ORIGIN_OCI]       = "oci",
        [ORIGIN_REGISTRY]  = "registry",
        [ORIGIN_BOOTSTRAP] = "bootstrap",
};

DEFINE_STRING_TABLE_LOOKUP(origin_type, OriginType);

/* The fields of each object, in the order they are written: the order the fills of import-tar,
 * import-oci, pull and bootstrap have always added them, then what every record gets, then a clone's. */
typedef enum FieldKind {
        FIELD_STRING,
        FIELD_STRING_OR_NULL,   /* written as null when NULL */
        FIELD_UINT64,
        FIELD_BOOL,
        FIELD_STRV,
        FIELD_TYPE,
        FIELD_POLICY,
        FIELD_EXEC,
        FIELD_ARCHIVE,
} FieldKind;

typedef struct Field {
        const char *key;
        FieldKind kind;
        size_t offset;
} Field;

#define F(key, kind, type, member) { key, kind, offsetof(type, member) }

static const Field origin_fields[] = {
        F("type",                  FIELD_TYPE,    MachineOrigin, type),
        F("tls_verify",            FIELD_BOOL,    MachineOrigin, tls_verify),
        F("source",                FIELD_STRING,  MachineOrigin, source),
        F("source_kind",           FIELD_STRING,  MachineOrigin, source_kind),
        F("compression",           FIELD_STRING,  MachineOrigin, compression),
        F("sha256",                FIELD_STRING,  MachineOrigin, sha256),
        F("size",                  FIELD_UINT64,  MachineOrigin, size),
        F("entries",               FIELD_UINT64,  MachineOrigin, entries),
        F("reference",             FIELD_STRING,  MachineOrigin, reference),
        F("registry",              FIELD_STRING,  MachineOrigin, registry),
        F("repository",            FIELD_STRING,  MachineOrigin, repository),
        F("tag",                   FIELD_STRING,  MachineOrigin, tag),
        F("manifest_digest",       FIELD_STRING,  MachineOrigin, manifest_digest),
        F("image_manifest_digest", FIELD_STRING,  MachineOrigin, image_manifest_digest),
        F("blobs",                 FIELD_STRV,    MachineOrigin, blobs),
        F("recipe",                FIELD_STRING,  MachineOrigin, recipe),
        F("mirror",                FIELD_STRING,  MachineOrigin, mirror),
        F("suite",                 FIELD_STRING,  MachineOrigin, suite),
        F("verified",              FIELD_BOOL,    MachineOrigin, verified),
        F("packages",              FIELD_UINT64,  MachineOrigin, packages),
        F("archive",               FIELD_ARCHIVE, MachineOrigin, archive),
        F("platform",              FIELD_STRING,  MachineOrigin, platform),
        F("config_digest",         FIELD_STRING,  MachineOrigin, config_digest),
        F("layers",                FIELD_UINT64,  MachineOrigin, layers),
        F("added_usr",             FIELD_BOOL,    MachineOrigin, added_usr),
        F("exec",                  FIELD_EXEC,    MachineOrigin, exec),
        F("exec_summary",          FIELD_STRING,  MachineOrigin, exec_summary),
        F("created_usec",          FIELD_UINT64,  MachineOrigin, created_usec),
        F("created",               FIELD_STRING,  MachineOrigin, created),
        F("tool",                  FIELD_STRING,  MachineOrigin, tool),
        F("auto_update",           FIELD_POLICY,  MachineOrigin, auto_update),
        F("health_cmd",            FIELD_STRING,  MachineOrigin, health_cmd),
        F("cloned_from",           FIELD_STRING,  MachineOrigin, cloned_from),
        F("cloned_usec",           FIELD_UINT64,  MachineOrigin, cloned_usec),
};

static const Field exec_fields[] = {
        F("boot",              FIELD_BOOL,   OriginExec, boot),
        F("parameters",        FIELD_STRV,   OriginExec, parameters),
        F("environment",       FIELD_STRV,   OriginExec, environment),
        F("working_directory", FIELD_STRING, OriginExec, working_directory),
        F("user",              FIELD_STRING, OriginExec, user),
        F("exposed_ports",     FIELD_STRV,   OriginExec, exposed_ports),
};

static const Field suite_fields[] = {
        F("suite",          FIELD_STRING,         OriginSuite, suite),
        F("mirror",         FIELD_STRING,         OriginSuite, mirror),
        F("date",           FIELD_STRING_OR_NULL, OriginSuite, date),
        F("release_sha256", FIELD_STRING,         OriginSuite, release_sha256),
};

#undef F

#define MEMBER(base, f, type) ((type *) ((uint8_t *) (base) + (f)->offset))

static void fields_init(const Field *fields, size_t n, void *base) {
        for (size_t i = 0; i < n; i++)
                switch (fields[i].kind) {
                case FIELD_UINT64:
                        *MEMBER(base, fields + i, uint64_t) = ORIGIN_NUMBER_UNSET;
                        break;
                case FIELD_BOOL:
                        *MEMBER(base, fields + i, int) = -1;
                        break;
                case FIELD_TYPE:
                        *MEMBER(base, fields + i, OriginType) = _ORIGIN_TYPE_INVALID;
                        break;
                case FIELD_POLICY:
                        *MEMBER(base, fields + i, AutoUpdatePolicy) = _AUTO_UPDATE_POLICY_INVALID;
                        break;
                default:
                        break;
                }
}

static void exec_free(OriginExec *x) {
        if (!x)
                return;
        strv_free(x->parameters);
        strv_free(x->environment);
        free(x->working_directory);
        free(x->user);
        strv_free(x->exposed_ports);
        json_object_put(x->extra);
        free(x);
}

static void suite_done(OriginSuite *s) {
        free(s->suite);
        free(s->mirror);
        free(s->date);
        free(s->release_sha256);
        json_object_put(s->extra);
}

MachineOrigin* origin_new(void) {
        MachineOrigin *o = calloc(1, sizeof(MachineOrigin));

        if (!o)
                return NULL;
        fields_init(origin_fields, ELEMENTSOF(origin_fields), o);
        return o;
}

MachineOrigin* origin_free(MachineOrigin *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(origin_fields); i++)
                if (origin_fields[i].kind == FIELD_STRING)
                        free(*MEMBER(o, origin_fields + i, char *));
                else if (origin_fields[i].kind == FIELD_STRV)
                        strv_free(*MEMBER(o, origin_fields + i, char **));
        for (size_t i = 0; i < o->n_archive; i++)
                suite_done(o->archive + i);
        free(o->archive);
        exec_free(o->exec);
        json_object_put(o->extra);
        return mfree(o);
}

OriginExec* origin_exec_new(MachineOrigin *o) {
        OriginExec *x;

        assert(o);

        x = calloc(1, sizeof(OriginExec));
        if (!x)
                return NULL;
        fields_init(exec_fields, ELEMENTSOF(exec_fields), x);
        exec_free(o->exec);
        return o->exec = x;
}

static OriginSuite* archive_append(MachineOrigin *o) {
        OriginSuite *a;

        /* One more than needed, so that an empty archive is a non-NULL array. */
        a = reallocarray(o->archive, o->n_archive + 2, sizeof(OriginSuite));
        if (!a)
                return NULL;
        o->archive = a;
        a[o->n_archive] = (OriginSuite) {};
        return a + o->n_archive++;
}

static int archive_init(MachineOrigin *o) {
        if (o->archive)
                return 0;
        o->archive = calloc(1, sizeof(OriginSuite));
        return o->archive ? 0 : -ENOMEM;
}

int origin_archive_add(MachineOrigin *o, const char *suite, const char *mirror, const char *date,
                       const char *release_sha256) {
        OriginSuite *s;

        assert(o);

        s = archive_append(o);
        if (!s)
                return -ENOMEM;
        if ((suite && !(s->suite = strdup(suite))) ||
            (mirror && !(s->mirror = strdup(mirror))) ||
            (date && !(s->date = strdup(date))) ||
            (release_sha256 && !(s->release_sha256 = strdup(release_sha256))))
                return -ENOMEM;     /* the partly filled suite is o's, freed with it */
        return 0;
}

int origin_set_string(char **field, const char *s) {
        char *copy = NULL;

        assert(field);

        if (s) {
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

int origin_set_strv(char ***field, char * const *l) {
        _cleanup_strv_free_ char **copy = NULL;

        assert(field);

        if (l) {
                copy = calloc(1, sizeof(char *));
                if (!copy || strv_extend_strv(&copy, l) < 0)
                        return -ENOMEM;
        }
        strv_free(*field);
        *field = TAKE_PTR(copy);
        return 0;
}

int origin_set_update_policy(MachineOrigin *o, AutoUpdatePolicy p, const char *health_cmd) {
        assert(o);

        if (health_cmd) {
                int r = origin_set_string(&o->health_cmd, isempty(health_cmd) ? NULL : health_cmd);
                if (r < 0)
                        return r;
        }
        if (p >= 0)
                o->auto_update = p;
        return 0;
}

AutoUpdatePolicy origin_auto_update(const MachineOrigin *o) {
        return o && o->auto_update >= 0 ? o->auto_update : AUTO_UPDATE_NO;
}

const char* origin_health_cmd(const MachineOrigin *o) {
        return o && !isempty(o->health_cmd) ? o->health_cmd : NULL;
}

/* Parsing */

static int bad(char **reterr_message, const char *path, const char *key, const char *what) {
        return error_message(reterr_message, -EBADMSG, "The origin record is damaged: '%s%s' %s.",
                             path, key, what);
}

static int parse_string(json_object *v, char **ret) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return -EBADMSG;        /* an embedded NUL */
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int parse_strv(json_object *v, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(v);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = parse_string(json_object_array_get_idx(v, i), l + i);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_fields(json_object *j, const Field *fields, size_t n_fields, void *base,
                        json_object **extra, MachineOrigin *origin, const char *path,
                        char **reterr_message);

static int parse_exec(json_object *v, MachineOrigin *o, char **reterr_message) {
        OriginExec *x;

        if (!json_object_is_type(v, json_type_object))
                return bad(reterr_message, "", "exec", "is not an object");
        x = origin_exec_new(o);
        if (!x)
                return -ENOMEM;
        return parse_fields(v, exec_fields, ELEMENTSOF(exec_fields), x, &x->extra, NULL, "exec.",
                            reterr_message);
}

static int parse_archive(json_object *v, MachineOrigin *o, char **reterr_message) {
        size_t n;
        int r;

        if (!json_object_is_type(v, json_type_array))
                return bad(reterr_message, "", "archive", "is not an array");
        r = archive_init(o);
        if (r < 0)
                return r;
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                char path[64];
                OriginSuite *s;

                (void) snprintf(path, sizeof(path), "archive[%zu].", i);
                if (!json_object_is_type(e, json_type_object))
                        return bad(reterr_message, path, "", "is not an object");
                s = archive_append(o);
                if (!s)
                        return -ENOMEM;
                r = parse_fields(e, suite_fields, ELEMENTSOF(suite_fields), s, &s->extra, NULL, path,
                                 reterr_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_field(json_object *v, const Field *f, void *base, MachineOrigin *origin, const char *path,
                       char **reterr_message) {
        int r;

        switch (f->kind) {
        case FIELD_STRING_OR_NULL:
                if (!v)
                        return 0;       /* json-c gives NULL for null */
                r = parse_string(v, MEMBER(base, f, char *));
                if (r == -EBADMSG)
                        return bad(reterr_message, path, f->key, "is not a string or null");
                return r;
        case FIELD_STRING:
                r = v ? parse_string(v, MEMBER(base, f, char *)) : -EBADMSG;
                if (r == -EBADMSG)
                        return bad(reterr_message, path, f->key, "is not a string");
                return r;
        case FIELD_STRV:
                r = v ? parse_strv(v, MEMBER(base, f, char **)) : -EBADMSG;
                if (r == -EBADMSG)
                        return bad(reterr_message, path, f->key, "is not an array of strings");
                return r;
        case FIELD_UINT64: {
                uint64_t u;

                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                        return bad(reterr_message, path, f->key, "is not a number of 0 or more");
                u = json_object_get_uint64(v);
                if (u == ORIGIN_NUMBER_UNSET)
                        return bad(reterr_message, path, f->key, "is out of range");
                *MEMBER(base, f, uint64_t) = u;
                return 0;
        }
        case FIELD_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return bad(reterr_message, path, f->key, "is not true or false");
                *MEMBER(base, f, int) = json_object_get_boolean(v);
                return 0;
        case FIELD_TYPE: {
                OriginType t = json_object_is_type(v, json_type_string) ?
                        origin_type_from_string(json_object_get_string(v)) : _ORIGIN_TYPE_INVALID;
                if (t < 0)
                        return bad(reterr_message, path, f->key,
                                   "is not one of tar, oci, registry, bootstrap");
                *MEMBER(base, f, OriginType) = t;
                return 0;
        }
        case FIELD_POLICY: {
                AutoUpdatePolicy p = json_object_is_type(v, json_type_string) ?
                        auto_update_policy_from_string(json_object_get_string(v)) :
                        _AUTO_UPDATE_POLICY_INVALID;
                if (p < 0)
                        return bad(reterr_message, path, f->key,
                                   "is not one of no, registry, local, packages");
                *MEMBER(base, f, AutoUpdatePolicy) = p;
                return 0;
        }
        case FIELD_EXEC:
                return parse_exec(v, origin, reterr_message);
        case FIELD_ARCHIVE:
                return parse_archive(v, origin, reterr_message);
        }
        return -EINVAL;
}

static int parse_fields(json_object *j, const Field *fields, size_t n_fields, void *base,
                        json_object **extra, MachineOrigin *origin, const char *path,
                        char **reterr_message) {
        int r;

        json_object_object_foreach(j, key, v) {
                const Field *f = NULL;

                for (size_t i = 0; i < n_fields; i++)
                        if (streq(fields[i].key, key)) {
                                f = fields + i;
                                break;
                        }
                if (!f) {
                        if (!*extra) {
                                *extra = json_object_new_object();
                                if (!*extra)
                                        return -ENOMEM;
                        }
                        r = json_object_object_add(*extra, key, json_object_get(v));
                        if (r < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                        continue;
                }
                r = parse_field(v, f, base, origin, path, reterr_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

int origin_parse(const char *json, size_t size, MachineOrigin **ret, char **reterr_message) {
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        struct json_tokener *tok;
        json_object *j;
        size_t end;
        int r;

        assert(json || size == 0);
        assert(ret);

        if (size > ORIGIN_SIZE_MAX)
                return error_message(reterr_message, -E2BIG, "The origin record is larger than %u bytes.",
                                     ORIGIN_SIZE_MAX);
        if (size == 0)
                return error_message(reterr_message, -EBADMSG, "The origin record is empty.");
        if (memchr(json, 0, size))
                return error_message(reterr_message, -EBADMSG, "The origin record contains a NUL byte.");

        /* Strict: a record is what json-c wrote, not what its lenient mode makes of anything. Shallow:
         * the deepest record we write has three levels. */
        tok = json_tokener_new_ex(32);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        j = json_tokener_parse_ex(tok, json, (int) size);
        end = json_tokener_get_parse_end(tok);
        r = json_tokener_get_error(tok) == json_tokener_success ? 0 : -EBADMSG;
        if (r == 0)
                for (size_t i = end; i < size; i++)
                        if (!strchr(" \t\n\r", json[i]))
                                r = -EBADMSG;
        json_tokener_free(tok);
        if (r < 0 || !json_object_is_type(j, json_type_object)) {
                json_object_put(j);
                return error_message(reterr_message, -EBADMSG, "The origin record is not a JSON object.");
        }

        o = origin_new();
        if (!o) {
                json_object_put(j);
                return -ENOMEM;
        }
        r = parse_fields(j, origin_fields, ELEMENTSOF(origin_fields), o, &o->extra, o, "", reterr_message);
        json_object_put(j);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

/* Writing */

static json_object* strv_to_json(char * const *l) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        STRV_FOREACH(i, l) {
                json_object *s = json_object_new_string(*i);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static int add(json_object *j, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(j, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int fields_to_json(const Field *fields, size_t n_fields, const void *base, json_object *extra,
                          json_object **ret);

static json_object* exec_to_json(const OriginExec *x) {
        json_object *j = NULL;

        return fields_to_json(exec_fields, ELEMENTSOF(exec_fields), x, x->extra, &j) < 0 ? NULL : j;
}

static json_object* archive_to_json(const MachineOrigin *o) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < o->n_archive; i++) {
                const OriginSuite *s = o->archive + i;
                json_object *e;

                if (fields_to_json(suite_fields, ELEMENTSOF(suite_fields), s, s->extra, &e) < 0 ||
                    json_object_array_add(a, e) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static int fields_to_json(const Field *fields, size_t n_fields, const void *base, json_object *extra,
                          json_object **ret) {
        json_object *j = json_object_new_object();
        int r = 0;

        if (!j)
                return -ENOMEM;
        for (size_t i = 0; i < n_fields && r >= 0; i++) {
                const Field *f = fields + i;

                switch (f->kind) {
                case FIELD_STRING:
                case FIELD_STRING_OR_NULL: {
                        const char *s = *MEMBER(base, f, char *);
                        if (s)
                                r = add(j, f->key, json_object_new_string(s));
                        else if (f->kind == FIELD_STRING_OR_NULL)
                                r = json_object_object_add(j, f->key, NULL) < 0 ? -ENOMEM : 0;
                        break;
                }
                case FIELD_STRV: {
                        char **l = *MEMBER(base, f, char **);
                        if (l)
                                r = add(j, f->key, strv_to_json(l));
                        break;
                }
                case FIELD_UINT64: {
                        uint64_t u = *MEMBER(base, f, uint64_t);
                        if (u != ORIGIN_NUMBER_UNSET)
                                r = add(j, f->key, json_object_new_uint64(u));
                        break;
                }
                case FIELD_BOOL: {
                        int b = *MEMBER(base, f, int);
                        if (b >= 0)
                                r = add(j, f->key, json_object_new_boolean(b));
                        break;
                }
                case FIELD_TYPE: {
                        OriginType t = *MEMBER(base, f, OriginType);
                        if (t >= 0)
                                r = add(j, f->key, json_object_new_string(origin_type_to_string(t)));
                        break;
                }
                case FIELD_POLICY: {
                        AutoUpdatePolicy p = *MEMBER(base, f, AutoUpdatePolicy);
                        if (p >= 0)
                                r = add(j, f->key, json_object_new_string(auto_update_policy_to_string(p)));
                        break;
                }
                case FIELD_EXEC: {
                        const OriginExec *x = *MEMBER(base, f, OriginExec *);
                        if (x)
                                r = add(j, f->key, exec_to_json(x));
                        break;
                }
                case FIELD_ARCHIVE:
                        if (((const MachineOrigin *) base)->archive)
                                r = add(j, f->key, archive_to_json(base));
                        break;
                }
        }
        if (r >= 0 && extra) {
                json_object_object_foreach(extra, key, v) {
                        /* Not add(): an unknown key may well be null. */
                        if (json_object_object_add(j, key, json_object_get(v)) < 0) {
                                json_object_put(v);
                                r = -ENOMEM;
                                break;
                        }
                }
        }
        if (r < 0) {
                json_object_put(j);
                return r;
        }
        *ret = j;
        return 0;
}

int origin_to_json(const MachineOrigin *o, json_object **ret) {
        assert(o);
        assert(ret);

        return fields_to_json(origin_fields, ELEMENTSOF(origin_fields), o, o->extra, ret);
}

int origin_format(const MachineOrigin *o, char **ret) {
        json_object *j;
        const char *s;
        char *copy;
        int r;

        assert(o);
        assert(ret);

        r = origin_to_json(o, &j);
        if (r < 0)
                return r;
        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN|JSON_C_TO_STRING_NOSLASHESCAPE);
        copy = s ? strdup(s) : NULL;
        json_object_put(j);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int origin_read(int tree_fd, MachineOrigin **ret, char **reterr_message) {
        _cleanup_free_ char *buf = NULL;
        ssize_t n;

        assert(tree_fd >= 0);
        assert(ret);

        buf = malloc(ORIGIN_SIZE_MAX);
        if (!buf)
                return -ENOMEM;
        n = fgetxattr(tree_fd, ORIGIN_XATTR, buf, ORIGIN_SIZE_MAX);
        if (n < 0)
                return errno == ERANGE ? -E2BIG : -errno;
        return origin_parse(buf, (size_t) n, ret, reterr_message);
}

int origin_write(int tree_fd, const MachineOrigin *o) {
        _cleanup_free_ char *s = NULL;
        size_t n;
        int r;

        assert(tree_fd >= 0);
        assert(o);

        r = origin_format(o, &s);
        if (r < 0)
                return r;
        n = strlen(s);
        if (n > ORIGIN_SIZE_MAX)
                return -E2BIG;
        return RET_NERRNO(fsetxattr(tree_fd, ORIGIN_XATTR, s, n, 0));
}
