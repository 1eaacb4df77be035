/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pulling from registries, the pure parts: image references, WWW-Authenticate challenges, auth.json
 * credentials, both registries.conf files, and the image settings merged under the user's. */
#include <string.h>

#include "nspawn-settings.h"
#include "oci-reference.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static void check_ref(const char *s, const char *registry, const char *repository, const char *tag,
                      const char *digest, const char *formatted) {
        _cleanup_(oci_reference_done) OciReference r = {};
        _cleanup_free_ char *f = NULL;

        ASSERT_OK(oci_reference_parse(s, &r));
        ASSERT_TRUE(streq_ptr(r.registry, registry));
        ASSERT_STREQ(r.repository, repository);
        ASSERT_TRUE(streq_ptr(r.tag, tag));
        ASSERT_TRUE(streq_ptr(r.digest, digest));
        ASSERT_OK(oci_reference_format(&r, &f));
        ASSERT_STREQ(f, formatted);
}

TEST(reference_valid) {
        check_ref("quay.io/podman/hello", "quay.io", "podman/hello", "latest", NULL,
                  "quay.io/podman/hello:latest");
        check_ref("127.0.0.1:5000/app:v1.2_x", "127.0.0.1:5000", "app", "v1.2_x", NULL,
                  "127.0.0.1:5000/app:v1.2_x");
        check_ref("localhost/a/b/c@" D1, "localhost", "a/b/c", NULL, D1, "localhost/a/b/c@" D1);
        check_ref("localhost:5000/a:t@" D1, "localhost:5000", "a", "t", D1, "localhost:5000/a:t@" D1);
        check_ref("docker.io/nginx", "docker.io", "library/nginx", "latest", NULL,
                  "docker.io/library/nginx:latest");
        check_ref("index.docker.io/nginx:1", "docker.io", "library/nginx", "1", NULL,
                  "docker.io/library/nginx:1");
        check_ref("docker.io/me/app", "docker.io", "me/app", "latest", NULL, "docker.io/me/app:latest");
        check_ref("[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000/x:latest");
        check_ref("reg.example/a.b_c__d--e", "reg.example", "a.b_c__d--e", "latest", NULL,
                  "reg.example/a.b_c__d--e:latest");
        /* Short names: no registry. */
        check_ref("nginx", NULL, "nginx", "latest", NULL, "nginx:latest");
        check_ref("library/nginx:1.25", NULL, "library/nginx", "1.25", NULL, "library/nginx:1.25");
}

TEST(reference_invalid) {
        static const char *const bad[] = {
                "", "UPPER/x", "quay.io/Upper", "quay.io/", "quay.io//x", "quay.io/x/", "x:", "x:-tag",
                "x@sha256:1234", ("x@" D1 "0"), "quay.io:0/x", "quay.io:99999/x", "quay.io:/x", "a..b/x:1",
                "-a.b/x", "x__-y", "x_", ".x", "x y", "quay.io/x:t:u", "x@", ("@" D1),
        };
        OciReference r = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int e = oci_reference_parse(bad[i], &r);
                if (e >= 0)
                        printf("# accepted '%s'\n", bad[i]);
                ASSERT_ERROR(e, EINVAL);
        }
        ASSERT_ERROR(oci_reference_parse("x@sha512:abcd", &r), EOPNOTSUPP);
        char longname[OCI_REFERENCE_MAX + 8];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        ASSERT_ERROR(oci_reference_parse(longname, &r), EINVAL);
}

TEST(reference_short_names_and_machine_names) {
        _cleanup_(oci_reference_done) OciReference r = {}, q = {};
        _cleanup_free_ char *n = NULL, *m = NULL;

        ASSERT_OK(oci_reference_parse("nginx:1", &r));
        ASSERT_OK(oci_reference_set_registry(&r, "docker.io"));
        ASSERT_STREQ(r.repository, "library/nginx");
        ASSERT_STREQ(oci_reference_endpoint(&r), "registry-1.docker.io");
        ASSERT_ERROR(oci_reference_set_registry(&r, "bad host/x"), EINVAL);
        ASSERT_OK(oci_reference_machine_name(&r, &n));
        ASSERT_STREQ(n, "nginx");

        ASSERT_OK(oci_reference_parse("quay.io:8443/my_org/web__app.v2", &q));
        ASSERT_STREQ(oci_reference_endpoint(&q), "quay.io:8443");
        ASSERT_OK(oci_reference_machine_name(&q, &m));
        ASSERT_STREQ(m, "web-app-v2");
}

TEST(www_authenticate) {
        _cleanup_(auth_challenge_done) AuthChallenge c = {};

        ASSERT_OK(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                       "service=\"registry.docker.io\","
                                       "scope=\"repository:library/nginx:pull\"", &c));
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
        ASSERT_STREQ(c.realm, "https://auth.docker.io/token");
        ASSERT_STREQ(c.service, "registry.docker.io");
        ASSERT_STREQ(c.scope, "repository:library/nginx:pull");
        auth_challenge_done(&c);

        /* Case, spaces, unquoted values, escapes, unknown parameters. */
        ASSERT_OK(auth_challenge_parse("bearer  realm = http://127.0.0.1:1/token , error=\"invalid\\\"x\", "
                                       "service=reg", &c));
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
        ASSERT_STREQ(c.realm, "http://127.0.0.1:1/token");
        ASSERT_STREQ(c.service, "reg");
        ASSERT_NULL(c.scope);
        auth_challenge_done(&c);

        ASSERT_OK(auth_challenge_parse("Basic realm=\"basic-realm\"", &c));
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BASIC);
        ASSERT_STREQ(c.realm, "basic-realm");
        auth_challenge_done(&c);

        /* Several challenges: the first we can answer. */
        ASSERT_OK(auth_challenge_parse("Negotiate abc==, Bearer realm=\"https://r/t\"", &c));
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
        ASSERT_STREQ(c.realm, "https://r/t");
        auth_challenge_done(&c);
        ASSERT_OK(auth_challenge_parse("Digest realm=\"x\", nonce=\"y\", Basic realm=\"z\"", &c));
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BASIC);
        ASSERT_STREQ(c.realm, "z");
        auth_challenge_done(&c);

        ASSERT_ERROR(auth_challenge_parse("Negotiate", &c), EOPNOTSUPP);
        ASSERT_ERROR(auth_challenge_parse("", &c), EOPNOTSUPP);
        ASSERT_ERROR(auth_challenge_parse("Bearer service=\"x\"", &c), EINVAL);     /* no realm */
        ASSERT_ERROR(auth_challenge_parse("Bearer realm=\"unterminated", &c), EINVAL);
        ASSERT_ERROR(auth_challenge_parse("Bearer realm=\"x\" junk", &c), EINVAL);
        ASSERT_ERROR(auth_challenge_parse("Bearer realm=", &c), EINVAL);
        ASSERT_ERROR(auth_challenge_parse(NULL, &c), EINVAL);
}

TEST(auth_json) {
        /* "alice:s3cr:et" and "bob:pw" */
        static const char json[] =
                "{\"auths\": {"
                "  \"127.0.0.1:5000\": {\"auth\": \"YWxpY2U6czNjcjpldA==\"},"
                "  \"127.0.0.1:5000/team/app\": {\"auth\": \"Ym9iOnB3\"},"
                "  \"https://index.docker.io/v1/\": {\"auth\": \"Ym9iOnB3\"},"
                "  \"broken.example\": {\"auth\": \"!!!\"},"
                "  \"token.example\": {\"identitytoken\": \"x\"}"
                "}}";
        _cleanup_free_ char *u = NULL, *p = NULL;

        ASSERT_OK(auth_json_lookup(json, strlen(json), "127.0.0.1:5000", "other", &u, &p));
        ASSERT_STREQ(u, "alice");
        ASSERT_STREQ(p, "s3cr:et");
        u = mfree(u);
        p = mfree(p);
        /* The most specific key wins. */
        ASSERT_OK(auth_json_lookup(json, strlen(json), "127.0.0.1:5000", "team/app", &u, &p));
        ASSERT_STREQ(u, "bob");
        u = mfree(u);
        p = mfree(p);
        ASSERT_OK(auth_json_lookup(json, strlen(json), "docker.io", "library/nginx", &u, &p));
        ASSERT_STREQ(p, "pw");

        ASSERT_ERROR(auth_json_lookup(json, strlen(json), "127.0.0.1:5001", "x", &u, &p), ENOENT);
        ASSERT_ERROR(auth_json_lookup(json, strlen(json), "token.example", "x", &u, &p), ENOENT);
        ASSERT_ERROR(auth_json_lookup(json, strlen(json), "broken.example", "x", &u, &p), EINVAL);
        ASSERT_ERROR(auth_json_lookup("{}", 2, "a", "b", &u, &p), ENOENT);
        ASSERT_ERROR(auth_json_lookup("{\"auths\": []}", 13, "a", "b", &u, &p), EINVAL);
        ASSERT_ERROR(auth_json_lookup("{\"auths\": {", 11, "a", "b", &u, &p), EINVAL);
        ASSERT_ERROR(auth_json_lookup("[]", 2, "a", "b", &u, &p), EINVAL);
        /* "nocolon" has no password separator. */
        ASSERT_ERROR(auth_json_lookup("{\"auths\":{\"a\":{\"auth\":\"bm9jb2xvbg==\"}}}", 38, "a", "b", &u,
                                      &p), EINVAL);
}

TEST(containers_registries_conf) {
        _cleanup_strv_free_ char **l = NULL;
        unsigned line = 0;

        ASSERT_OK(containers_registries_parse("# comment\nunqualified-search-registries = "
                                              "[\"docker.io\", 'quay.io' ] # x\n[[registry]]\n"
                                              "unqualified-search-registries = [\"ignored.example\"]\n", &l,
                                              &line));
        ASSERT_EQ(strv_length(l), 2U);
        ASSERT_STREQ(l[0], "docker.io");
        ASSERT_STREQ(l[1], "quay.io");
        l = strv_free(l);

        ASSERT_OK(containers_registries_parse("unqualified-search-registries = [\n  \"a.example\",\n"
                                              "  \"b.example:5000\",\n]\n", &l, &line));
        ASSERT_EQ(strv_length(l), 2U);
        l = strv_free(l);

        ASSERT_OK(containers_registries_parse("unqualified-search-registries = []\n", &l, &line));
        ASSERT_EQ(strv_length(l), 0U);
        l = strv_free(l);
        ASSERT_OK(containers_registries_parse("short-name-mode = \"enforcing\"\n", &l, &line));
        ASSERT_NULL(l);

        ASSERT_ERROR(containers_registries_parse("\n\nunqualified-search-registries = \"docker.io\"\n", &l,
                                                 &line), EINVAL);
        ASSERT_EQ(line, 3U);
        ASSERT_ERROR(containers_registries_parse("unqualified-search-registries = [\"a\"\n", &l, &line),
                     EINVAL);
        ASSERT_ERROR(containers_registries_parse("unqualified-search-registries = [\"bad host\"]", &l,
                                                 &line), EINVAL);
}

TEST(registry_settings) {
        _cleanup_(registry_settings_done) RegistrySettings s = {};
        unsigned line = 0;
        static const char conf[] =
                "# ours\n"
                "[Registry 127.0.0.1:5000]\n"
                "TLSVerify=no\n"
                "[Registry \"reg.example\"]\n"
                "CA=/etc/ssl/reg.pem\n"
                "Unknown=1\n"
                "[Other]\n"
                "CA=relative\n";

        ASSERT_OK(registry_settings_parse(conf, "127.0.0.1:5000", &s, &line));
        ASSERT_EQ(s.tls_verify, 0);
        ASSERT_NULL(s.ca_file);
        registry_settings_done(&s);
        ASSERT_OK(registry_settings_parse(conf, "reg.example", &s, &line));
        ASSERT_EQ(s.tls_verify, -1);
        ASSERT_STREQ(s.ca_file, "/etc/ssl/reg.pem");
        registry_settings_done(&s);
        ASSERT_OK(registry_settings_parse(conf, "nothing.example", &s, &line));
        ASSERT_EQ(s.tls_verify, -1);

        ASSERT_ERROR(registry_settings_parse("[Registry a]\nTLSVerify=maybe\n", "a", &s, &line), EINVAL);
        ASSERT_EQ(line, 2U);
        ASSERT_ERROR(registry_settings_parse("[Registry a]\nCA=relative.pem\n", "a", &s, &line), EINVAL);
        ASSERT_ERROR(registry_settings_parse("[Registry a]\njunk\n", "a", &s, &line), EINVAL);
        ASSERT_EQ(line, 2U);
}

TEST(merge_image_settings) {
        NspawnSettings image, user;
        char *img_params[] = { (char*) "/bin/httpd", (char*) "-f", NULL };
        char *img_env[] = { (char*) "PATH=/bin", (char*) "A=image", NULL };

        nspawn_settings_init(&image);
        image.boot = 0;
        image.parameters = img_params;
        image.environment = img_env;
        image.working_directory = (char*) "/srv";
        image.user = (char*) "1000";

        /* No options: the image's. */
        nspawn_settings_init(&user);
        ASSERT_OK(nspawn_settings_merge_image(&user, &image));
        ASSERT_EQ(user.boot, 0);
        ASSERT_EQ(strv_length(user.parameters), 2U);
        ASSERT_STREQ(user.parameters[0], "/bin/httpd");
        ASSERT_STREQ(user.working_directory, "/srv");
        ASSERT_STREQ(user.user, "1000");
        ASSERT_EQ(strv_length(user.environment), 2U);
        nspawn_settings_done(&user);

        /* The user's command, environment (by name) and user win. */
        nspawn_settings_init(&user);
        user.boot = 0;
        ASSERT_OK(strv_extend(&user.parameters, "/bin/sh"));
        ASSERT_OK(strv_extend(&user.environment, "A=user"));
        ASSERT_OK(strv_extend(&user.environment, "B=new"));
        user.user = strdup("root");
        ASSERT_OK(nspawn_settings_merge_image(&user, &image));
        ASSERT_EQ(strv_length(user.parameters), 1U);
        ASSERT_STREQ(user.parameters[0], "/bin/sh");
        ASSERT_EQ(strv_length(user.environment), 3U);
        ASSERT_STREQ(user.environment[0], "PATH=/bin");
        ASSERT_STREQ(user.environment[1], "A=user");
        ASSERT_STREQ(user.environment[2], "B=new");
        ASSERT_STREQ(user.user, "root");
        ASSERT_STREQ(user.working_directory, "/srv");
        nspawn_settings_done(&user);

        /* --exec without a command: the image's. */
        nspawn_settings_init(&user);
        user.boot = 0;
        user.parameters = calloc(1, sizeof(char*));
        ASSERT_OK(nspawn_settings_merge_image(&user, &image));
        ASSERT_EQ(strv_length(user.parameters), 2U);
        nspawn_settings_done(&user);

        /* --boot: no command, user or directory of the image's. */
        nspawn_settings_init(&user);
        user.boot = 1;
        ASSERT_OK(nspawn_settings_merge_image(&user, &image));
        ASSERT_EQ(user.boot, 1);
        ASSERT_NULL(user.parameters);
        ASSERT_NULL(user.user);
        ASSERT_NULL(user.working_directory);
        ASSERT_EQ(strv_length(user.environment), 2U);
        nspawn_settings_done(&user);

        /* An image that boots. */
        image.boot = 1;
        nspawn_settings_init(&user);
        ASSERT_OK(nspawn_settings_merge_image(&user, &image));
        ASSERT_EQ(user.boot, 1);
        ASSERT_NULL(user.parameters);
        nspawn_settings_done(&user);
}

DEFINE_TEST_MAIN;
