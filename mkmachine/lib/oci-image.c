/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "digest.h"
#include "download.h"
#include "error-util.h"
#include "json-util.h"
#include "oci-image.h"
#include "path-util.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"

static const char* const oci_media_type_table[_OCI_MEDIA_TYPE_MAX] = {
        [OCI_MEDIA_INDEX]                = "application/vnd.oci.image.index.v1+json",
        [OCI_MEDIA_MANIFEST]             = "application/vnd.oci.image.manifest.v1+json",
        [OCI_MEDIA_CONFIG]               = "application/vnd.oci.image.config.v1+json",
        [OCI_MEDIA_LAYER]                = "application/vnd.oci.image.layer.v1.tar",
        [OCI_MEDIA_LAYER_GZIP]           = "application/vnd.oci.image.layer.v1.tar+gzip",
        [OCI_MEDIA_LAYER_ZSTD]           = "application/vnd.oci.image.layer.v1.tar+zstd",
        [OCI_MEDIA_DOCKER_MANIFEST_LIST] = "application/vnd.docker.distribution.manifest.list.v2+json",
        [OCI_MEDIA_DOCKER_MANIFEST]      = "application/vnd.docker.distribution.manifest.v2+json",
        [OCI_MEDIA_DOCKER_CONFIG]        = "application/vnd.docker.container.image.v1+json",
        [OCI_MEDIA_DOCKER_LAYER_GZIP]    = "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

DEFINE_STRING_TABLE_LOOKUP(oci_media_type, OciMediaType);

bool oci_media_type_is_index(OciMediaType t) {
        return t == OCI_MEDIA_INDEX || t == OCI_MEDIA_DOCKER_MANIFEST_LIST;
}

bool oci_media_type_is_manifest(OciMediaType t) {
        return t == OCI_MEDIA_MANIFEST || t == OCI_MEDIA_DOCKER_MANIFEST;
}

bool oci_media_type_is_config(OciMediaType t) {
        return t == OCI_MEDIA_CONFIG || t == OCI_MEDIA_DOCKER_CONFIG;
}

bool oci_media_type_is_layer(OciMediaType t) {
        return t == OCI_MEDIA_LAYER || t == OCI_MEDIA_LAYER_GZIP || t == OCI_MEDIA_LAYER_ZSTD ||
                t == OCI_MEDIA_DOCKER_LAYER_GZIP;
}

Compression oci_media_type_compression(OciMediaType t) {
        switch (t) {
        case OCI_MEDIA_LAYER:
                return COMPRESSION_NONE;
        case OCI_MEDIA_LAYER_GZIP:
        case OCI_MEDIA_DOCKER_LAYER_GZIP:
                return COMPRESSION_GZIP;
        case OCI_MEDIA_LAYER_ZSTD:
                return COMPRESSION_ZSTD;
        default:
                return _COMPRESSION_INVALID;
        }
}

int oci_digest_parse(const char *s, char *ret_hex) {
        const char *hex, *colon;

        if (!s)
                return -EBADMSG;
        hex = startswith(s, "sha256:");
        if (!hex) {
                /* algorithm ":" encoded, as the image-spec's grammar has it. */
                colon = strchr(s, ':');
                if (!colon || colon == s || isempty(colon + 1) || strlen(s) > 1024)
                        return -EBADMSG;
                for (const char *c = s; c < colon; c++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789+._-", *c))
                                return -EBADMSG;
                return -EOPNOTSUPP;
        }
        if (strlen(hex) != 64)
                return -EBADMSG;
        for (const char *c = hex; *c; c++)
                if (!strchr("0123456789abcdef", *c))
                        return -EBADMSG;
        if (ret_hex)
                memcpy(ret_hex, hex, 65);
        return 0;
}

int oci_blob_verify(const void *data, size_t size, const char *digest, uint64_t expected_size) {
        char want[65], have[65];
        int r;

        r = oci_digest_parse(digest, want);
        if (r < 0)
                return r;
        if ((uint64_t) size != expected_size)
                return -EBADMSG;
        r = sha256_hex(data, size, have);
        if (r < 0)
                return r;
        return streq(want, have) ? 0 : -EBADMSG;
}

void oci_platform_done(OciPlatform *p) {
        if (!p)
                return;
        p->os = mfree(p->os);
        p->architecture = mfree(p->architecture);
        p->variant = mfree(p->variant);
}

static bool platform_word_is_valid(const char *s) {
        if (isempty(s) || strlen(s) > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
                        return false;
        return true;
}

int oci_platform_parse(const char *s, OciPlatform *ret) {
        _cleanup_free_ char *copy = NULL;
        char *arch, *variant = NULL;
        OciPlatform p = {};

        if (isempty(s))
                return -EINVAL;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        arch = strchr(copy, '/');
        if (!arch)
                return -EINVAL;
        *arch++ = 0;
        variant = strchr(arch, '/');
        if (variant)
                *variant++ = 0;
        if (!platform_word_is_valid(copy) || !platform_word_is_valid(arch) ||
            (variant && !platform_word_is_valid(variant)))
                return -EINVAL;

        p.os = strdup(copy);
        p.architecture = strdup(arch);
        p.variant = variant ? strdup(variant) : NULL;
        if (!p.os || !p.architecture || (variant && !p.variant)) {
                oci_platform_done(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

int oci_platform_host(OciPlatform *ret) {
        static const char *const map[][3] = {
                /* uname -m, GOARCH, variant */
                { "x86_64",  "amd64",   NULL },
                { "aarch64", "arm64",   "v8" },
                { "armv7l",  "arm",     "v7" },
                { "armv6l",  "arm",     "v6" },
                { "i686",    "386",     NULL },
                { "i386",    "386",     NULL },
                { "ppc64le", "ppc64le", NULL },
                { "s390x",   "s390x",   NULL },
                { "riscv64", "riscv64", NULL },
        };
        struct utsname u;
        const char *arch = NULL, *variant = NULL;
        OciPlatform p = {};

        if (uname(&u) < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(u.machine, map[i][0])) {
                        arch = map[i][1];
                        variant = map[i][2];
                        break;
                }
        p.os = strdup("linux");
        p.architecture = strdup(arch ?: u.machine);
        p.variant = variant ? strdup(variant) : NULL;
        if (!p.os || !p.architecture || (variant && !p.variant)) {
                oci_platform_done(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static const char* platform_variant(const OciPlatform *p) {
        if (p->variant)
                return p->variant;
        /* The image-spec: arm64 without a variant is v8. */
        return streq_ptr(p->architecture, "arm64") ? "v8" : NULL;
}

bool oci_platform_matches(const OciPlatform *want, const OciPlatform *have) {
        if (!streq_ptr(want->os, have->os) || !streq_ptr(want->architecture, have->architecture))
                return false;
        if (!want->variant)
                return true;
        return streq_ptr(platform_variant(want), platform_variant(have));
}

char* oci_platform_format(const OciPlatform *p, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s/%s%s%s", strna(p->os), strna(p->architecture),
                        p->variant ? "/" : "", p->variant ?: "");
        return buf;
}

void oci_descriptor_done(OciDescriptor *d) {
        if (!d)
                return;
        free(d->media_type_string);
        oci_platform_done(&d->platform);
        free(d->ref_name);
        *d = (OciDescriptor) {};
}

/* --- JSON helpers ------------------------------------------------------------------------------ */

static int json_parse(const char *json, size_t size, const char *what, json_object **ret,
                      char **reterr_message) {
        json_tokener *tok;
        json_object *j;

        if (size > OCI_JSON_SIZE_MAX)
                return error_message(reterr_message, -E2BIG, "The %s is larger than %u bytes.", what,
                                     OCI_JSON_SIZE_MAX);
        if (memchr(json, 0, size))
                return error_message(reterr_message, -EBADMSG, "The %s is not JSON (contains a NUL byte).",
                                     what);

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, json, (int) size);
        if (!j || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) < size) {
                /* Trailing white space is fine, anything else is not. */
                size_t end = json_tokener_get_parse_end(tok);
                bool trailing_ok = j && json_tokener_get_error(tok) == json_tokener_success;

                /* Not strspn(): the buffer need not be NUL-terminated. */
                for (size_t k = end; trailing_ok && k < size; k++)
                        trailing_ok = IN_SET_CHAR(json[k], ' ', '\t', '\r', '\n');
                if (!trailing_ok) {
                        enum json_tokener_error err = json_tokener_get_error(tok);
                        const char *e = j ? "trailing garbage" :
                                err == json_tokener_continue ? "truncated" : json_tokener_error_desc(err);
                        json_object_put(j);
                        json_tokener_free(tok);
                        return error_message(reterr_message, -EBADMSG, "The %s is not valid JSON: %s.", what,
                                             e);
                }
        }
        json_tokener_free(tok);
        if (!json_object_is_type(j, json_type_object)) {
                json_object_put(j);
                return error_message(reterr_message, -EBADMSG, "The %s is not a JSON object.", what);
        }
        *ret = j;
        return 0;
}

/* A member that must be a string if present: 0 and NULL if absent, -EBADMSG if of another type. */
static int json_string(json_object *o, const char *key, const char **ret) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        /* json-c allows NUL in strings; we don't. */
        if (strlen(*ret) != (size_t) json_object_get_string_len(v))
                return -EBADMSG;
        return 0;
}

static int json_strdup(json_object *o, const char *key, char **ret) {
        const char *s;
        int r;

        r = json_string(o, key, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* An array of strings (or null/absent: NULL). */
static int json_strv(json_object *o, const char *key, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        json_object *v;
        size_t n;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(v);
        if (n > OCI_ENTRIES_MAX)
                return -E2BIG;
        l = calloc(n + 1, sizeof(char*));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                const char *s;

                if (!json_object_is_type(e, json_type_string))
                        return -EBADMSG;
                s = json_object_get_string(e);
                if (strlen(s) != (size_t) json_object_get_string_len(e))
                        return -EBADMSG;
                l[i] = strdup(s);
                if (!l[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int check_schema_version(json_object *j, const char *what, char **reterr_message) {
        json_object *v;

        if (!json_object_object_get_ex(j, "schemaVersion", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != 2)
                return error_message(reterr_message, -EOPNOTSUPP, "The %s is not of schemaVersion 2.", what);
        return 0;
}

static int descriptor_parse(json_object *o, const char *what, OciDescriptor *ret, char **reterr_message) {
        OciDescriptor d = { .media_type = _OCI_MEDIA_TYPE_INVALID };
        const char *mt, *digest;
        json_object *v, *p;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return error_message(reterr_message, -EBADMSG, "The %s is not a JSON object.", what);

        if (json_string(o, "mediaType", &mt) < 0 || !mt)
                return error_message(reterr_message, -EBADMSG, "The %s has no mediaType.", what);
        if (json_string(o, "digest", &digest) < 0 || !digest)
                return error_message(reterr_message, -EBADMSG, "The %s has no digest.", what);
        r = oci_digest_parse(digest, NULL);
        if (r == -EOPNOTSUPP)
                return error_message(reterr_message, r,
                                     "The %s has digest '%.80s': only sha256 is supported.", what, digest);
        if (r < 0)
                return error_message(reterr_message, r, "The %s has an invalid digest '%.80s'.", what,
                                     digest);
        if (!json_object_object_get_ex(o, "size", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < 0)
                return error_message(reterr_message, -EBADMSG, "The %s (%s) has no valid size.", what,
                                     digest);

        d.size = (uint64_t) json_object_get_int64(v);
        strcpy(d.digest, digest);
        d.media_type = oci_media_type_from_string(mt);
        d.media_type_string = strdup(mt);
        if (!d.media_type_string)
                return -ENOMEM;

        if (json_object_object_get_ex(o, "platform", &p) && !json_object_is_type(p, json_type_null)) {
                if (!json_object_is_type(p, json_type_object) ||
                    json_strdup(p, "os", &d.platform.os) < 0 ||
                    json_strdup(p, "architecture", &d.platform.architecture) < 0 ||
                    json_strdup(p, "variant", &d.platform.variant) < 0 ||
                    !d.platform.os || !d.platform.architecture) {
                        oci_descriptor_done(&d);
                        return error_message(reterr_message, -EBADMSG,
                                             "The %s (%s) has an invalid platform.", what, digest);
                }
                d.has_platform = true;
        }

        if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object) &&
            json_strdup(v, "org.opencontainers.image.ref.name", &d.ref_name) < 0) {
                oci_descriptor_done(&d);
                return error_message(reterr_message, -EBADMSG,
                                     "The %s (%s) has an invalid ref.name annotation.", what, digest);
        }

        *ret = d;
        return 0;
}

/* The document's own mediaType (if it has one) must agree with what referred to it: CVE-2021-41190,
 * where a manifest could be read as an index and the reverse. */
static int check_media_type(json_object *j, OciMediaType expected, bool index, const char *what,
                            OciMediaType *ret, char **reterr_message) {
        const char *mt;
        OciMediaType t;
        bool has_manifests = json_object_object_get_ex(j, "manifests", NULL),
             has_layers = json_object_object_get_ex(j, "layers", NULL) ||
                          json_object_object_get_ex(j, "config", NULL);

        if (json_string(j, "mediaType", &mt) < 0)
                return error_message(reterr_message, -EBADMSG, "The %s has an invalid mediaType.", what);
        /* Shape first: a document of the other kind is refused even without a mediaType. */
        if (index && has_layers)
                return error_message(reterr_message, -EBADMSG, "The image index has a config or layers: it "
                                     "is (also) a manifest, refusing the ambiguity.");
        if (!index && has_manifests)
                return error_message(reterr_message, -EBADMSG, "The image manifest has a list of manifests: "
                                     "it is (also) an index, refusing the ambiguity.");

        if (mt) {
                t = oci_media_type_from_string(mt);
                if (index ? !oci_media_type_is_index(t) : !oci_media_type_is_manifest(t))
                        return error_message(reterr_message, -EBADMSG,
                                             "The %s says it is of media type '%.100s'.", what, mt);
                if (expected >= 0 && t != expected)
                        return error_message(reterr_message, -EBADMSG, "The %s says it is of media type "
                                             "'%s', but its descriptor says '%s'.", what, mt,
                                             oci_media_type_to_string(expected));
        } else if (expected >= 0) {
                /* Docker's schema 2 always names its media type; OCI's should. */
                if (expected == OCI_MEDIA_DOCKER_MANIFEST || expected == OCI_MEDIA_DOCKER_MANIFEST_LIST)
                        return error_message(reterr_message, -EBADMSG,
                                             "The %s has no mediaType, but its descriptor says '%s'.", what,
                                             oci_media_type_to_string(expected));
                t = expected;
        } else
                t = index ? OCI_MEDIA_INDEX : OCI_MEDIA_MANIFEST;

        if (expected >= 0 && (index ? !oci_media_type_is_index(expected) :
                                      !oci_media_type_is_manifest(expected)))
                return error_message(reterr_message, -EBADMSG, "The %s is referred to as '%s'.", what,
                                     strna(oci_media_type_to_string(expected)));
        *ret = t;
        return 0;
}

/* --- Index --------------------------------------------------------------------------------------- */

OciIndex* oci_index_free(OciIndex *i) {
        if (!i)
                return NULL;
        for (size_t k = 0; k < i->n_manifests; k++)
                oci_descriptor_done(i->manifests + k);
        free(i->manifests);
        return mfree(i);
}

int oci_index_parse(const char *json, size_t size, OciMediaType expected, OciIndex **ret,
                    char **reterr_message) {
        _cleanup_(oci_index_freep) OciIndex *i = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *m;
        size_t n;
        int r;

        r = json_parse(json, size, "image index", &j, reterr_message);
        if (r < 0)
                return r;

        i = calloc(1, sizeof(OciIndex));
        if (!i) {
                return -ENOMEM;
        }
        r = check_schema_version(j, "image index", reterr_message);
        if (r < 0)
                return r;
        r = check_media_type(j, expected, true, "image index", &i->media_type, reterr_message);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(j, "manifests", &m) || !json_object_is_type(m, json_type_array)) {
                return error_message(reterr_message, -EBADMSG, "The image index has no list of manifests.");
        }
        n = json_object_array_length(m);
        if (n > OCI_ENTRIES_MAX) {
                return error_message(reterr_message, -E2BIG, "The image index lists more than %u manifests.",
                                     OCI_ENTRIES_MAX);
        }
        i->manifests = calloc(MAX(n, 1U), sizeof(OciDescriptor));
        if (!i->manifests) {
                return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                char what[64];

                (void) snprintf(what, sizeof(what), "image index's manifest %zu", k + 1);
                r = descriptor_parse(json_object_array_get_idx(m, k), what, i->manifests + k,
                                     reterr_message);
                if (r < 0)
                        return r;
                i->n_manifests++;
        }

        *ret = TAKE_PTR(i);
        return 0;
}

int oci_index_find_ref(const OciIndex *i, const char *ref, const OciDescriptor **ret) {
        const OciDescriptor *found = NULL;

        for (size_t k = 0; k < i->n_manifests; k++) {
                const OciDescriptor *d = i->manifests + k;

                if (!streq_ptr(d->ref_name, ref))
                        continue;
                if (found && !streq(found->digest, d->digest))
                        return -ENOTUNIQ;
                found = d;
        }
        if (!found)
                return -ENOENT;
        *ret = found;
        return 0;
}

int oci_index_select(const OciIndex *i, const OciPlatform *want, const OciDescriptor **ret,
                     char **reterr_message) {
        const OciDescriptor *unspecified = NULL;
        _cleanup_free_ char *list = NULL;
        char w[OCI_PLATFORM_STRING_MAX];
        size_t n_unspecified = 0, wrong_type = SIZE_MAX;

        for (size_t k = 0; k < i->n_manifests; k++) {
                const OciDescriptor *d = i->manifests + k;

                if (!oci_media_type_is_manifest(d->media_type) && !oci_media_type_is_index(d->media_type)) {
                        /* Attestations and the like; but one for the platform asked for is worth
                         * naming if nothing else is found. */
                        if (wrong_type == SIZE_MAX && d->has_platform &&
                            oci_platform_matches(want, &d->platform))
                                wrong_type = k;
                        continue;
                }
                if (!d->has_platform) {
                        if (!unspecified)
                                unspecified = d;
                        n_unspecified++;
                        continue;
                }
                if (oci_platform_matches(want, &d->platform)) {
                        *ret = d;
                        return 0;
                }
        }
        if (n_unspecified == 1) {
                *ret = unspecified;
                return 0;
        }

        if (wrong_type != SIZE_MAX)
                return error_message(reterr_message, -EBADMSG,
                                     "The image index's entry %zu for platform %s has media type '%s', "
                                     "which is neither an image manifest nor an index.", wrong_type + 1,
                                     oci_platform_format(want, w, sizeof(w)),
                                     i->manifests[wrong_type].media_type_string);

        /* Say what there is. */
        for (size_t k = 0; k < i->n_manifests; k++) {
                const OciDescriptor *d = i->manifests + k;
                char p[OCI_PLATFORM_STRING_MAX], *nl;

                if (!d->has_platform ||
                    (!oci_media_type_is_manifest(d->media_type) && !oci_media_type_is_index(d->media_type)))
                        continue;
                oci_platform_format(&d->platform, p, sizeof(p));
                if (asprintf(&nl, "%s%s%s", list ?: "", list ? ", " : "", p) < 0)
                        return -ENOMEM;
                free(list);
                list = nl;
        }
        return error_message(reterr_message, -ENOENT, "No image for platform %s; the image has: %s.",
                             oci_platform_format(want, w, sizeof(w)),
                             list ?: n_unspecified > 1 ? "several images without a platform" : "no images");
}

/* --- Manifest ------------------------------------------------------------------------------------ */

OciManifest* oci_manifest_free(OciManifest *m) {
        if (!m)
                return NULL;
        oci_descriptor_done(&m->config);
        for (size_t k = 0; k < m->n_layers; k++)
                oci_descriptor_done(m->layers + k);
        free(m->layers);
        return mfree(m);
}

int oci_manifest_parse(const char *json, size_t size, OciMediaType expected, OciManifest **ret,
                       char **reterr_message) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *c, *l;
        size_t n;
        int r;

        r = json_parse(json, size, "image manifest", &j, reterr_message);
        if (r < 0)
                return r;

        m = calloc(1, sizeof(OciManifest));
        if (!m) {
                return -ENOMEM;
        }
        r = check_schema_version(j, "image manifest", reterr_message);
        if (r < 0)
                return r;
        r = check_media_type(j, expected, false, "image manifest", &m->media_type, reterr_message);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(j, "config", &c)) {
                return error_message(reterr_message, -EBADMSG, "The image manifest has no config.");
        }
        r = descriptor_parse(c, "image manifest's config", &m->config, reterr_message);
        if (r < 0)
                return r;
        if (!oci_media_type_is_config(m->config.media_type)) {
                return error_message(reterr_message, -EOPNOTSUPP,
                                     "The image's config (%s) is of media type '%.100s', not an image "
                                     "config.", m->config.digest, m->config.media_type_string);
        }

        if (!json_object_object_get_ex(j, "layers", &l) || !json_object_is_type(l, json_type_array)) {
                return error_message(reterr_message, -EBADMSG, "The image manifest has no list of layers.");
        }
        n = json_object_array_length(l);
        if (n > OCI_ENTRIES_MAX) {
                return error_message(reterr_message, -E2BIG, "The image manifest lists more than %u layers.",
                                     OCI_ENTRIES_MAX);
        }
        m->layers = calloc(MAX(n, 1U), sizeof(OciDescriptor));
        if (!m->layers) {
                return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                OciDescriptor *d = m->layers + k;
                char what[64];

                (void) snprintf(what, sizeof(what), "image manifest's layer %zu", k + 1);
                r = descriptor_parse(json_object_array_get_idx(l, k), what, d, reterr_message);
                if (r < 0)
                        return r;
                m->n_layers++;
                if (oci_media_type_is_layer(d->media_type))
                        continue;
                if (strstr(d->media_type_string, "foreign") ||
                    strstr(d->media_type_string, "nondistributable"))
                        return error_message(reterr_message, -EOPNOTSUPP, "Layer %zu (%s) is a foreign "
                                             "(non-distributable) layer of media type '%.100s': its content "
                                             "is not in the image, refusing.", k + 1, d->digest,
                                             d->media_type_string);
                return error_message(reterr_message, -EOPNOTSUPP,
                                     "Layer %zu (%s) has unsupported media type '%.100s'.", k + 1,
                                     d->digest, d->media_type_string);
        }

        *ret = TAKE_PTR(m);
        return 0;
}

/* --- Config -------------------------------------------------------------------------------------- */

OciConfig* oci_config_free(OciConfig *c) {
        if (!c)
                return NULL;
        oci_platform_done(&c->platform);
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->working_dir);
        free(c->user);
        strv_free(c->exposed_ports);
        strv_free(c->diff_ids);
        free(c->stop_signal);
        return mfree(c);
}

int oci_config_parse(const char *json, size_t size, OciConfig **ret, char **reterr_message) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *cfg, *rootfs, *ports;
        int r;

        r = json_parse(json, size, "image config", &j, reterr_message);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(OciConfig));
        if (!c) {
                return -ENOMEM;
        }
        if (json_strdup(j, "os", &c->platform.os) < 0 ||
            json_strdup(j, "architecture", &c->platform.architecture) < 0 ||
            json_strdup(j, "variant", &c->platform.variant) < 0) {
                return error_message(reterr_message, -EBADMSG,
                                     "The image config has an invalid os or architecture.");
        }
        if (!c->platform.os || !c->platform.architecture) {
                return error_message(reterr_message, -EBADMSG,
                                     "The image config names no os or architecture.");
        }

        if (json_object_object_get_ex(j, "config", &cfg) && !json_object_is_type(cfg, json_type_null)) {
                const char *bad = NULL;

                if (!json_object_is_type(cfg, json_type_object))
                        bad = "config";
                else if (json_strv(cfg, "Entrypoint", &c->entrypoint) < 0)
                        bad = "Entrypoint";
                else if (json_strv(cfg, "Cmd", &c->cmd) < 0)
                        bad = "Cmd";
                else if (json_strv(cfg, "Env", &c->env) < 0)
                        bad = "Env";
                else if (json_strdup(cfg, "WorkingDir", &c->working_dir) < 0)
                        bad = "WorkingDir";
                else if (json_strdup(cfg, "User", &c->user) < 0)
                        bad = "User";
                else if (json_strdup(cfg, "StopSignal", &c->stop_signal) < 0)
                        bad = "StopSignal";
                if (bad) {
                        return error_message(reterr_message, -EBADMSG, "The image config has an invalid %s.",
                                             bad);
                }

                if (json_object_object_get_ex(cfg, "ExposedPorts", &ports) &&
                    !json_object_is_type(ports, json_type_null)) {
                        if (!json_object_is_type(ports, json_type_object) ||
                            json_object_object_length(ports) > (int) OCI_ENTRIES_MAX) {
                                return error_message(reterr_message, -EBADMSG,
                                                     "The image config has an invalid ExposedPorts.");
                        }
                        json_object_object_foreach(ports, key, val) {
                                (void) val;
                                if (strv_extend(&c->exposed_ports, key) < 0) {
                                        return -ENOMEM;
                                }
                        }
                }
        }

        if (json_object_object_get_ex(j, "rootfs", &rootfs)) {
                if (!json_object_is_type(rootfs, json_type_object) ||
                    json_strv(rootfs, "diff_ids", &c->diff_ids) < 0) {
                        return error_message(reterr_message, -EBADMSG,
                                             "The image config has an invalid rootfs.");
                }
                STRV_FOREACH(d, c->diff_ids)
                        if (oci_digest_parse(*d, NULL) < 0) {
                                return error_message(reterr_message, -EBADMSG,
                                                     "The image config has an invalid diff_id '%.80s'.", *d);
                        }
        }

        *ret = TAKE_PTR(c);
        return 0;
}

static int exposed_port_parse(const char *s, NspawnPort *ret) {
        const char *slash = strchr(s, '/');
        char *end;
        unsigned long p;

        errno = 0;
        p = strtoul(s, &end, 10);
        if (errno != 0 || end == s || p == 0 || p > 65535 || (end != slash && *end != 0))
                return -EINVAL;
        if (!slash || streq(slash, "/tcp"))
                ret->protocol = PORT_TCP;
        else if (streq(slash, "/udp"))
                ret->protocol = PORT_UDP;
        else
                return -EOPNOTSUPP;     /* sctp */
        ret->host = ret->guest = (uint16_t) p;
        return 0;
}

int oci_config_to_nspawn_settings(const OciConfig *c, bool boot, bool publish_ports, NspawnSettings *ret,
                                  char **reterr_message) {
        return oci_config_to_nspawn_settings_full(c, boot, publish_ports ? OCI_SETTINGS_PUBLISH_PORTS : 0,
                                                  ret, reterr_message);
}

int oci_config_to_nspawn_settings_full(const OciConfig *c, bool boot, OciSettingsFlags flags,
                                       NspawnSettings *ret, char **reterr_message) {
        bool publish_ports = flags & OCI_SETTINGS_PUBLISH_PORTS;
        NspawnSettings s;
        int r = -ENOMEM;

        nspawn_settings_init(&s);
        if (boot)
                s.boot = 1;
        else {
                if (strv_length(c->entrypoint) + strv_length(c->cmd) == 0 &&
                    !(flags & OCI_SETTINGS_COMMAND_GIVEN)) {
                        r = error_message(reterr_message, -ENOEXEC, "The image has no init, and its config "
                                          "has neither Entrypoint nor Cmd: nothing to run.");
                        goto fail;
                }
                s.boot = 0;
                if (strv_extend_strv(&s.parameters, c->entrypoint) < 0 ||
                    strv_extend_strv(&s.parameters, c->cmd) < 0)
                        goto fail;
                for (size_t i = 0; s.parameters && s.parameters[i]; i++)
                        if (nspawn_word_check(s.parameters[i]) < 0) {
                                size_t n = strv_length(c->entrypoint);

                                r = error_message(reterr_message, -EBADMSG,
                                                  "The image's %s argument %zu holds a control character "
                                                  "or is not UTF-8: systemd-nspawn's Parameters= cannot "
                                                  "carry it.", i < n ? "Entrypoint" : "Cmd",
                                                  (i < n ? i : i - n) + 1);
                                goto fail;
                        }
                if (!isempty(c->working_dir)) {
                        if (!nspawn_path_is_valid(c->working_dir)) {
                                r = error_message(reterr_message, -EBADMSG,
                                                  "The image's WorkingDir '%.100s' is not a normalized "
                                                  "absolute path of printable characters (no ':', '\\' "
                                                  "or tabs).", c->working_dir);
                                goto fail;
                        }
                        s.working_directory = strdup(c->working_dir);
                        if (!s.working_directory)
                                goto fail;
                }
                if (!isempty(c->user)) {
                        /* systemd-nspawn's User= takes a user; the group comes from the user database. */
                        s.user = strndup(c->user, strcspn(c->user, ":"));
                        if (!s.user)
                                goto fail;
                        if (!nspawn_user_is_valid(s.user)) {
                                r = error_message(reterr_message, -EBADMSG,
                                                  "The image's User '%.100s' is not a user name or UID "
                                                  "(optionally :GROUP).", c->user);
                                goto fail;
                        }
                }
        }

        STRV_FOREACH(e, c->env) {
                size_t n = strcspn(*e, "=");

                if ((*e)[n] != '=' || !nspawn_env_name_is_valid(*e, n)) {
                        r = error_message(reterr_message, -EBADMSG,
                                          "The image's Env entry '%.100s' is not NAME=VALUE with a name of "
                                          "letters, digits and '_'.", *e);
                        goto fail;
                }
                if (nspawn_word_check(*e + n + 1) < 0) {
                        r = error_message(reterr_message, -EBADMSG,
                                          "The image's Env variable %.*s holds a control character or is "
                                          "not UTF-8: systemd-nspawn's Environment= cannot carry it.",
                                          (int) MIN(n, 100U), *e);
                        goto fail;
                }
                if (strv_extend(&s.environment, *e) < 0)
                        goto fail;
        }

        /* What is left for the settings file to refuse (lengths), said as the image's. */
        {
                _cleanup_free_ char *why = NULL;

                r = nspawn_settings_check(&s, &why);
                if (r < 0) {
                        r = error_message(reterr_message, r, "The image's config cannot be used: %s.",
                                          why ?: strerror(-r));
                        goto fail;
                }
                r = -ENOMEM;
        }

        if (publish_ports) {
                s.ports_set = true;
                STRV_FOREACH(p, c->exposed_ports) {
                        NspawnPort port;

                        r = exposed_port_parse(*p, &port);
                        if (r < 0) {
                                r = error_message(reterr_message, r == -EOPNOTSUPP ? r : -EBADMSG,
                                                  "The image's exposed port '%.100s' cannot be published.",
                                                  *p);
                                goto fail;
                        }
                        r = nspawn_settings_add_port(&s, &port);
                        if (r < 0)
                                goto fail;
                }
        }

        *ret = s;
        return 0;
fail:
        nspawn_settings_done(&s);
        return r;
}

/* --- docker-archive ------------------------------------------------------------------------------ */

DockerArchive* docker_archive_free(DockerArchive *a) {
        if (!a)
                return NULL;
        for (size_t k = 0; k < a->n_images; k++) {
                free(a->images[k].config);
                strv_free(a->images[k].layers);
                strv_free(a->images[k].repo_tags);
        }
        free(a->images);
        return mfree(a);
}

static bool archive_path_is_valid(const char *p) {
        return !isempty(p) && strlen(p) < 1024 && path_is_safe_relative(p);
}

int docker_archive_parse(const char *json, size_t size, DockerArchive **ret, char **reterr_message) {
        _cleanup_(docker_archive_freep) DockerArchive *a = NULL;
        json_tokener *tok;
        _cleanup_(json_object_putp) json_object *j = NULL;
        size_t n;
        int r;

        if (size > OCI_JSON_SIZE_MAX)
                return error_message(reterr_message, -E2BIG, "manifest.json is larger than %u bytes.",
                                     OCI_JSON_SIZE_MAX);
        if (memchr(json, 0, size))
                return error_message(reterr_message, -EBADMSG, "manifest.json is not JSON.");
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, json, (int) size);
        r = json_tokener_get_error(tok) == json_tokener_success ? 0 : -EBADMSG;
        json_tokener_free(tok);
        if (r < 0 || !json_object_is_type(j, json_type_array)) {
                return error_message(reterr_message, -EBADMSG, "manifest.json is not a JSON array.");
        }

        n = json_object_array_length(j);
        a = calloc(1, sizeof(DockerArchive));
        if (!a || !(a->images = calloc(MAX(n, 1U), sizeof(DockerArchiveImage)))) {
                return -ENOMEM;
        }
        if (n == 0 || n > OCI_ENTRIES_MAX) {
                return error_message(reterr_message, -EBADMSG, "manifest.json lists %zu images.", n);
        }
        for (size_t k = 0; k < n; k++) {
                json_object *o = json_object_array_get_idx(j, k);
                DockerArchiveImage *im = a->images + k;

                a->n_images++;
                if (!json_object_is_type(o, json_type_object) ||
                    json_strdup(o, "Config", &im->config) < 0 || !archive_path_is_valid(im->config) ||
                    json_strv(o, "Layers", &im->layers) < 0 ||
                    json_strv(o, "RepoTags", &im->repo_tags) < 0) {
                        return error_message(reterr_message, -EBADMSG,
                                             "manifest.json: image %zu is invalid.", k + 1);
                }
                STRV_FOREACH(l, im->layers)
                        if (!archive_path_is_valid(*l)) {
                                return error_message(reterr_message, -EBADMSG, "manifest.json: image %zu "
                                                     "has an invalid layer path '%.100s'.", k + 1, *l);
                        }
        }

        *ret = TAKE_PTR(a);
        return 0;
}
