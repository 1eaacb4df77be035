/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI/Docker image documents: parsing, digest and size checks, media types (and contradictions between
 * a document and its descriptor), platform choice, and the config turned into machine settings. */
#include <openssl/provider.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "download.h"
#include "oci-image.h"
#include "string-util.h"
#include "strv.h"
#include "tests-openssl.h"
#include "tests.h"

#define OCI "application/vnd.oci.image."
#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

TEST(media_type_strings) {
        for (OciMediaType t = 0; t < _OCI_MEDIA_TYPE_MAX; t++)
                ASSERT_EQ(oci_media_type_from_string(oci_media_type_to_string(t)), t);
        ASSERT_EQ(oci_media_type_from_string("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
                  _OCI_MEDIA_TYPE_INVALID);
        ASSERT_EQ(oci_media_type_compression(OCI_MEDIA_LAYER_ZSTD), COMPRESSION_ZSTD);
        ASSERT_EQ(oci_media_type_compression(OCI_MEDIA_DOCKER_LAYER_GZIP), COMPRESSION_GZIP);
        ASSERT_EQ(oci_media_type_compression(OCI_MEDIA_LAYER), COMPRESSION_NONE);
}

TEST(digests) {
        char hex[65], d[80];

        ASSERT_OK(oci_digest_parse(D1, hex));
        ASSERT_EQ(strlen(hex), 64U);
        ASSERT_ERROR(oci_digest_parse("sha512:abcd", NULL), EOPNOTSUPP);
        ASSERT_ERROR(oci_digest_parse("sha256:ABCD", NULL), EBADMSG);
        ASSERT_ERROR(oci_digest_parse("sha256:" "1111", NULL), EBADMSG);
        ASSERT_ERROR(oci_digest_parse(D1 "1", NULL), EBADMSG);
        ASSERT_ERROR(oci_digest_parse("nocolon", NULL), EBADMSG);
        ASSERT_ERROR(oci_digest_parse(":x", NULL), EBADMSG);

        ASSERT_OK(sha256_hex("hello", 5, hex));
        snprintf(d, sizeof(d), "sha256:%s", hex);
        ASSERT_OK(oci_blob_verify("hello", 5, d, 5));
        ASSERT_ERROR(oci_blob_verify("hello", 5, d, 6), EBADMSG);     /* size */
        ASSERT_ERROR(oci_blob_verify("hellO", 5, d, 5), EBADMSG);     /* content */
        ASSERT_ERROR(oci_blob_verify("hell", 4, d, 4), EBADMSG);      /* truncated */
}

TEST(blob_verify_without_a_digest) {
        static const char zeros[] =
                "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        OSSL_PROVIDER *provider;
        OSSL_LIB_CTX *old = openssl_break(&provider);
        int r;

        /* When OpenSSL fails, the blob is not checked: an error, never a match with the all-zero digest
         * that sha256_hex() once made up. */
        r = oci_blob_verify("hello", 5, zeros, 5);
        openssl_restore(old, provider);
        ASSERT_ERROR(r, EIO);
}

static const char index_json[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI "index.v1+json\",\"manifests\":["
        "{\"mediaType\":\"" OCI "manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":10,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" OCI "manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":20,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}";

TEST(index_and_platforms) {
        _cleanup_(oci_index_freep) OciIndex *i = NULL;
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_free_ char *msg = NULL;
        const OciDescriptor *d;

        ASSERT_OK(oci_index_parse(index_json, strlen(index_json), _OCI_MEDIA_TYPE_INVALID, &i, NULL));
        ASSERT_EQ(i->n_manifests, 2U);
        ASSERT_OK(oci_index_find_ref(i, "latest", &d));
        ASSERT_STREQ(d->digest, D2);
        ASSERT_ERROR(oci_index_find_ref(i, "nope", &d), ENOENT);

        ASSERT_OK(oci_platform_parse("linux/amd64", &want));
        ASSERT_OK(oci_index_select(i, &want, &d, NULL));
        ASSERT_STREQ(d->digest, D2);
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/arm64/v8", &want));
        ASSERT_OK(oci_index_select(i, &want, &d, NULL));
        ASSERT_STREQ(d->digest, D1);
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/arm64", &want));
        ASSERT_OK(oci_index_select(i, &want, &d, NULL));
        ASSERT_STREQ(d->digest, D1);
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/s390x", &want));
        ASSERT_ERROR(oci_index_select(i, &want, &d, &msg), ENOENT);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "linux/arm64/v8, linux/amd64"));

        /* The entry for the platform has a media type that is no manifest: said so, not "No image for
         * platform linux/amd64; the image has: linux/amd64". */
        static const char bad_type[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" OCI "index.v1+json\",\"manifests\":["
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+jsonx\",\"digest\":\"" D2 "\","
                "\"size\":20,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"mediaType\":\"" OCI "manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":10,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
        _cleanup_(oci_index_freep) OciIndex *bad = NULL;

        ASSERT_OK(oci_index_parse(bad_type, strlen(bad_type), _OCI_MEDIA_TYPE_INVALID, &bad, NULL));
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/amd64", &want));
        msg = mfree(msg);
        ASSERT_ERROR(oci_index_select(bad, &want, &d, &msg), EBADMSG);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "entry 1 for platform linux/amd64"));
        ASSERT_TRUE(strstr(msg, "'application/vnd.oci.image.manifest.v1+jsonx'"));
        /* Another platform is still chosen, and a missing one lists only the usable entries. */
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/arm64", &want));
        ASSERT_OK(oci_index_select(bad, &want, &d, NULL));
        ASSERT_STREQ(d->digest, D1);
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/s390x", &want));
        msg = mfree(msg);
        ASSERT_ERROR(oci_index_select(bad, &want, &d, &msg), ENOENT);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "the image has: linux/arm64."));

        OciPlatform p;
        ASSERT_ERROR(oci_platform_parse("amd64", &p), EINVAL);
        ASSERT_ERROR(oci_platform_parse("linux/", &p), EINVAL);
        ASSERT_ERROR(oci_platform_parse("linux/amd64/v1/x", &p), EINVAL);
        ASSERT_OK(oci_platform_host(&p));
        ASSERT_STREQ(p.os, "linux");
        oci_platform_done(&p);
}

static int parse_manifest(const char *json, OciMediaType expected, char **msg) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        int r;

        r = oci_manifest_parse(json, strlen(json), expected, &m, msg);
        if (*msg)
                printf("# %s\n", *msg);
        return r;
}

#define CONFIG_DESC "{\"mediaType\":\"" OCI "config.v1+json\",\"digest\":\"" D1 "\",\"size\":5}"
#define LAYER(mt) "{\"mediaType\":\"" mt "\",\"digest\":\"" D2 "\",\"size\":7}"

TEST(manifests_and_media_types) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        static const char good[] = "{\"schemaVersion\":2,\"config\":" CONFIG_DESC ",\"layers\":["
                LAYER("" OCI "layer.v1.tar+gzip") ","
                LAYER("" OCI "layer.v1.tar+zstd") ","
                LAYER("" OCI "layer.v1.tar") "]}";
        char *msg = NULL;

        ASSERT_OK(oci_manifest_parse(good, strlen(good), OCI_MEDIA_MANIFEST, &m, NULL));
        ASSERT_EQ(m->n_layers, 3U);
        ASSERT_EQ(m->layers[1].media_type, OCI_MEDIA_LAYER_ZSTD);
        ASSERT_EQ(m->layers[0].size, 7U);

        /* A manifest referred to as an index, and an index shape in a manifest: CVE-2021-41190. */
        ASSERT_ERROR(parse_manifest(good, OCI_MEDIA_INDEX, &msg), EBADMSG);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"mediaType\":\"" OCI "index.v1+json\","
                                    "\"config\":" CONFIG_DESC ",\"layers\":[]}", OCI_MEDIA_MANIFEST, &msg),
                     EBADMSG);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"manifests\":[],\"config\":" CONFIG_DESC
                                    ",\"layers\":[]}", OCI_MEDIA_MANIFEST, &msg), EBADMSG);
        msg = mfree(msg);
        /* Docker's media type on a document that says it is OCI. */
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"mediaType\":\"" OCI "manifest.v1+json\","
                                    "\"config\":" CONFIG_DESC ",\"layers\":[]}", OCI_MEDIA_DOCKER_MANIFEST,
                                    &msg),
                     EBADMSG);
        msg = mfree(msg);
        /* Foreign and unknown layers. */
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"config\":" CONFIG_DESC ",\"layers\":["
                                    LAYER("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") "]}",
                                    OCI_MEDIA_MANIFEST, &msg), EOPNOTSUPP);
        ASSERT_TRUE(strstr(msg, "foreign"));
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"config\":" CONFIG_DESC ",\"layers\":["
                                    LAYER("application/x-bzip2") "]}", OCI_MEDIA_MANIFEST, &msg),
                     EOPNOTSUPP);
        msg = mfree(msg);
        /* Bad descriptors. */
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI ""
                                    "config.v1+json\",\"digest\":\"sha512:00\",\"size\":1},\"layers\":[]}",
                                    OCI_MEDIA_MANIFEST, &msg), EOPNOTSUPP);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI ""
                                    "config.v1+json\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
                                    OCI_MEDIA_MANIFEST, &msg), EBADMSG);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":1}", OCI_MEDIA_MANIFEST, &msg), EOPNOTSUPP);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("{\"schemaVersion\":2,", OCI_MEDIA_MANIFEST, &msg), EBADMSG);
        msg = mfree(msg);
        ASSERT_ERROR(parse_manifest("[]", OCI_MEDIA_MANIFEST, &msg), EBADMSG);
        msg = mfree(msg);
}

static const char config_json[] =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/app\",\"--serve\"],"
        "\"Cmd\":[\"a b\"],\"Env\":[\"PATH=/usr/bin\",\"X=1\"],\"WorkingDir\":\"/srv\","
        "\"User\":\"app:staff\","
        "\"ExposedPorts\":{\"8080/tcp\":{},\"53/udp\":{}}},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}}";

TEST(config_to_settings) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_(nspawn_settings_done) NspawnSettings s = {};
        NspawnSettings b;
        char *msg = NULL;

        ASSERT_OK(oci_config_parse(config_json, strlen(config_json), &c, NULL));
        ASSERT_STREQ(c->platform.architecture, "amd64");
        ASSERT_EQ(strv_length(c->diff_ids), 1U);
        ASSERT_EQ(strv_length(c->exposed_ports), 2U);

        ASSERT_OK(oci_config_to_nspawn_settings(c, false, true, &s, NULL));
        ASSERT_EQ(s.boot, 0);
        ASSERT_EQ(strv_length(s.parameters), 3U);
        ASSERT_STREQ(s.parameters[0], "/bin/app");
        ASSERT_STREQ(s.parameters[2], "a b");
        ASSERT_STREQ(s.environment[1], "X=1");
        ASSERT_STREQ(s.working_directory, "/srv");
        ASSERT_STREQ(s.user, "app");
        ASSERT_EQ(s.n_ports, 2U);

        /* An init: boot; the command and user are not for an init. */
        ASSERT_OK(oci_config_to_nspawn_settings(c, true, false, &b, NULL));
        ASSERT_EQ(b.boot, 1);
        ASSERT_NULL(b.parameters);
        ASSERT_NULL(b.user);
        ASSERT_EQ(b.n_ports, 0U);
        nspawn_settings_done(&b);

        /* Nothing to run. */
        oci_config_free(TAKE_PTR(c));
        static const char empty[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
        ASSERT_OK(oci_config_parse(empty, strlen(empty), &c, NULL));
        ASSERT_ERROR(oci_config_to_nspawn_settings(c, false, false, &b, &msg), ENOEXEC);
        ASSERT_TRUE(msg);
        free(msg);
        msg = NULL;
        /* …unless the user says what runs (--exec CMD, --boot): no command of the image's, for the user's
         * settings to win over when merged. */
        ASSERT_OK(oci_config_to_nspawn_settings_full(c, false, OCI_SETTINGS_COMMAND_GIVEN, &b, &msg));
        ASSERT_NULL(msg);
        ASSERT_EQ(b.boot, 0);
        ASSERT_NULL(b.parameters);
        {
                _cleanup_(nspawn_settings_done) NspawnSettings user = {};

                nspawn_settings_init(&user);
                user.boot = 0;
                ASSERT_OK(strv_extend(&user.parameters, "/bin/echo"));
                ASSERT_OK(nspawn_settings_merge_image(&user, &b));
                ASSERT_EQ(user.boot, 0);
                ASSERT_EQ(strv_length(user.parameters), 1U);
                ASSERT_STREQ(user.parameters[0], "/bin/echo");
        }
        nspawn_settings_done(&b);
        ASSERT_OK(oci_config_to_nspawn_settings_full(c, false, OCI_SETTINGS_COMMAND_GIVEN, &b, NULL));
        {
                _cleanup_(nspawn_settings_done) NspawnSettings user = {};

                nspawn_settings_init(&user);
                user.boot = 1;
                ASSERT_OK(nspawn_settings_merge_image(&user, &b));
                ASSERT_EQ(user.boot, 1);
                ASSERT_NULL(user.parameters);
        }
        nspawn_settings_done(&b);

        /* Broken configs. */
        static const char *const bad[] = {
                "{\"os\":\"linux\"}",
                "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"notalist\"}}",
                "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[1]}}",
                "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"md5:x\"]}}",
                "{\"architecture\":\"amd64\",\"os\":\"li\\u0000nux\"}",
        };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                OciConfig *x = NULL;
                ASSERT_ERROR(oci_config_parse(bad[k], strlen(bad[k]), &x, NULL), EBADMSG);
        }
}

TEST(config_hostile_values) {
        /* Each value would change the .nspawn file's structure or be read back differently by
         * systemd-nspawn: the image is refused, naming the field. */
#define CFG(x) "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/x\"]," x "}}"
        static const struct {
                const char *json, *field;
        } bad[] = {
                { CFG("\"WorkingDir\":\"/srv\\nPrivateUsers=no\""),               "WorkingDir" },
                { CFG("\"WorkingDir\":\"/srv\\r[Files]\\rBind=/:/host\""),         "WorkingDir" },
                { CFG("\"WorkingDir\":\"/srv\\\\\""),                             "WorkingDir" },
                { CFG("\"WorkingDir\":\"/a/../etc\""),                            "WorkingDir" },
                { CFG("\"WorkingDir\":\"srv\""),                                  "WorkingDir" },
                { CFG("\"User\":\"root\\nPrivateUsers=no\""),                      "User" },
                { CFG("\"User\":\"a b:c\""),                                      "User" },
                { CFG("\"User\":\"x\\\\\""),                                      "User" },
                { CFG("\"Env\":[\"A=1\\nPrivateUsers=no\"]"),                      "Env" },
                { CFG("\"Env\":[\"BAD NAME=1\"]"),                                "Env" },
                { CFG("\"Env\":[\"A=\\u001b[2J\"]"),                              "Env" },
                { "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
                  "{\"Cmd\":[\"/bin/x\",\"a\\rCapability=all\"]}}",                "Cmd" },
                { "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
                  "{\"Entrypoint\":[\"/bin/x\\n\"],\"Cmd\":[\"ok\"]}}",            "Entrypoint" },
        };
#undef CFG
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                _cleanup_(oci_config_freep) OciConfig *c = NULL;
                _cleanup_free_ char *msg = NULL;
                NspawnSettings s;

                ASSERT_OK(oci_config_parse(bad[k].json, strlen(bad[k].json), &c, NULL));
                ASSERT_ERROR(oci_config_to_nspawn_settings(c, false, false, &s, &msg), EBADMSG);
                ASSERT_NOT_NULL(msg);
                if (!strstr(msg, bad[k].field)) {
                        fprintf(stderr, "message '%s' does not name %s\n", msg, bad[k].field);
                        ASSERT_TRUE(false);
                }
        }

        /* A value too long for a settings line: refused as the image's, not left to the writer. */
        {
                _cleanup_(oci_config_freep) OciConfig *c = NULL;
                _cleanup_free_ char *json = NULL, *msg = NULL, *big = malloc(100 * 1024);
                NspawnSettings s;

                ASSERT_NOT_NULL(big);
                memset(big, 'x', 100 * 1024 - 1);
                big[100 * 1024 - 1] = 0;
                ASSERT_TRUE(asprintf(&json, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
                                     "{\"Cmd\":[\"/bin/x\"],\"Env\":[\"BIG=%s\"]}}", big) > 0);
                ASSERT_OK(oci_config_parse(json, strlen(json), &c, NULL));
                ASSERT_ERROR(oci_config_to_nspawn_settings(c, false, false, &s, &msg), E2BIG);
                ASSERT_NOT_NULL(strstr(msg, "BIG is longer than a settings line"));
        }

        /* Quotes, backslashes, tabs, '$' and '%' are fine: they are quoted, not refused. */
        static const char ok[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
                "\"Cmd\":[\"/bin/sh\",\"-c\",\"echo \\\"it's\\\" \\\\ $HOME %i\\tx\"],"
                "\"Env\":[\"Q=a\\\"b'c\\\\d e\\tf$g%h\"],\"User\":\"1000:1000\","
                "\"WorkingDir\":\"/srv/app/\"}}";
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        NspawnSettings s;

        ASSERT_OK(oci_config_parse(ok, strlen(ok), &c, NULL));
        ASSERT_OK(oci_config_to_nspawn_settings(c, false, false, &s, NULL));
        ASSERT_STREQ(s.parameters[2], "echo \"it's\" \\ $HOME %i\tx");
        ASSERT_STREQ(s.environment[0], "Q=a\"b'c\\d e\tf$g%h");
        ASSERT_STREQ(s.user, "1000");
        nspawn_settings_done(&s);
}

TEST(docker_archive_manifest) {
        _cleanup_(docker_archive_freep) DockerArchive *a = NULL;
        static const char good[] = "[{\"Config\":\"" "abc.json\",\"RepoTags\":[\"example/app:1\"],"
                "\"Layers\":[\"x/layer.tar\",\"y.tar\"]}]";
        DockerArchive *b = NULL;

        ASSERT_OK(docker_archive_parse(good, strlen(good), &a, NULL));
        ASSERT_EQ(a->n_images, 1U);
        ASSERT_EQ(strv_length(a->images[0].layers), 2U);
        ASSERT_ERROR(docker_archive_parse("[{\"Config\":\"../x.json\",\"Layers\":[]}]", 38, &b, NULL),
                     EBADMSG);
        ASSERT_ERROR(docker_archive_parse("[{\"Config\":\"c.json\",\"Layers\":[\"/etc/shadow\"]}]", 47, &b,
                                          NULL), EBADMSG);
        ASSERT_ERROR(docker_archive_parse("[]", 2, &b, NULL), EBADMSG);
        ASSERT_ERROR(docker_archive_parse("{}", 2, &b, NULL), EBADMSG);
}

DEFINE_TEST_MAIN
