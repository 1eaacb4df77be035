/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What of oci-registry.c can be tested without a real registry (the integration tests pull from one):
 * the parsers of its replies (oci-registry-reply.c), the short-name search list from a
 * containers-registries.conf named by CONTAINERS_REGISTRIES_CONF, and the client against a small HTTP
 * server on 127.0.0.1 that speaks just enough of the distribution API: anonymous access, a Bearer token
 * fetched from the realm and sent with the next request, a token server whose reply has no token, a
 * tag's manifest digest and a missing tag. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "oci-registry-reply.h"
#include "oci-registry.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

TEST(token_reply) {
        _cleanup_free_ char *t = NULL;

        ASSERT_OK(registry_token_reply_parse("{\"token\": \"abc\", \"expires_in\": 300}", &t));
        ASSERT_STREQ(t, "abc");
        t = mfree(t);
        ASSERT_OK(registry_token_reply_parse("{\"access_token\": \"xyz\"}", &t));
        ASSERT_STREQ(t, "xyz");
        t = mfree(t);
        /* "token" first, as the spec says clients should. */
        ASSERT_OK(registry_token_reply_parse("{\"access_token\": \"2\", \"token\": \"1\"}", &t));
        ASSERT_STREQ(t, "1");
        t = mfree(t);

        /* Nothing that could not go into a header line, and nothing made up. */
        ASSERT_ERROR(registry_token_reply_parse("{\"token\": \"a\\r\\nX-Evil: 1\"}", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("{\"token\": \"\"}", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("{\"token\": 42, \"access_token\": \"x\"}", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("{\"errors\": [{\"code\": \"DENIED\"}]}", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("[\"token\"]", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("{\"token\": \"abc\"", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("<html>Forbidden</html>", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse("", &t), EBADMSG);
        ASSERT_ERROR(registry_token_reply_parse(NULL, &t), EBADMSG);
        ASSERT_NULL(t);
}

TEST(manifest_media_type) {
        static const char index_json[] = "{\"schemaVersion\": 2, \"manifests\": []}";
        static const char docker[] =
                "{\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\"}";

        /* The Content-Type wins if it names an index or manifest, parameters or not. */
        ASSERT_EQ(registry_manifest_media_type("application/vnd.oci.image.index.v1+json; charset=utf-8",
                                               docker), OCI_MEDIA_INDEX);
        ASSERT_EQ(registry_manifest_media_type("application/vnd.oci.image.manifest.v1+json", index_json),
                  OCI_MEDIA_MANIFEST);
        /* Otherwise the document's mediaType, else the shape of it. */
        ASSERT_EQ(registry_manifest_media_type("application/json", docker), OCI_MEDIA_DOCKER_MANIFEST);
        ASSERT_EQ(registry_manifest_media_type(NULL, docker), OCI_MEDIA_DOCKER_MANIFEST);
        ASSERT_EQ(registry_manifest_media_type("text/plain", index_json), OCI_MEDIA_INDEX);
        ASSERT_EQ(registry_manifest_media_type(NULL, "{\"schemaVersion\": 2, \"layers\": []}"),
                  OCI_MEDIA_MANIFEST);
        ASSERT_EQ(registry_manifest_media_type(NULL, "{\"mediaType\": \"application/x-schema1\"}"),
                  _OCI_MEDIA_TYPE_INVALID);
        /* Not JSON: what the Content-Type said, be it nothing or a config. */
        ASSERT_EQ(registry_manifest_media_type("application/vnd.docker.distribution.manifest.v1+prettyjws",
                                               "not json"), _OCI_MEDIA_TYPE_INVALID);
        ASSERT_EQ(registry_manifest_media_type("application/vnd.oci.image.config.v1+json", "not json"),
                  OCI_MEDIA_CONFIG);
        ASSERT_EQ(registry_manifest_media_type(NULL, NULL), _OCI_MEDIA_TYPE_INVALID);
}

static char dir[64];

static void write_conf(const char *text) {
        _cleanup_close_ int fd = -EBADF;
        char path[96];

        snprintf(path, sizeof(path), "%s/registries.conf", dir);
        fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ASSERT_OK(setenv("CONTAINERS_REGISTRIES_CONF", path, 1));
}

TEST(search_list) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int tmp = -EBADF;

        strcpy(dir, "/tmp/test-oci-registry.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));

        /* No such file: no list, no error. */
        ASSERT_OK(setenv("CONTAINERS_REGISTRIES_CONF", "/nonexistent/registries.conf", 1));
        l = (char**) 1;
        ASSERT_OK(registries_search_list(&l, &msg));
        ASSERT_NULL(l);

        /* A top-level key: the same name in a table below is another key. */
        write_conf("# ours\nunqualified-search-registries = [\"registry.example\",\n"
                   "  \"127.0.0.1:5000\"]\n\n"
                   "[aliases]\nunqualified-search-registries = [\"elsewhere.example\"]\n");
        ASSERT_OK(registries_search_list(&l, &msg));
        ASSERT_EQ(strv_length(l), 2U);
        ASSERT_STREQ(l[0], "registry.example");
        ASSERT_STREQ(l[1], "127.0.0.1:5000");
        l = strv_free(l);

        /* A broken file says which and where. */
        write_conf("\n\nunqualified-search-registries = registry.example\n");
        ASSERT_ERROR(registries_search_list(&l, &msg), EINVAL);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, dir));
        ASSERT_TRUE(strstr(msg, "registries.conf:3:"));
        ASSERT_NULL(l);

        ASSERT_OK(unsetenv("CONTAINERS_REGISTRIES_CONF"));
        tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

/* The registry: answers every request on its own connection (Connection: close) until the listening
 * socket is shut down. A TLS hello (the client tries https:// first) gets the connection closed. */
typedef enum Token {
        TOKEN_NONE,             /* anonymous access */
        TOKEN_GOOD,             /* 401 with a Bearer challenge; the realm hands out a token */
        TOKEN_MISSING,          /* the same, and the realm's answer has no token */
} Token;

typedef struct Registry {
        int listen_fd;
        Token token;
        char realm[64];
        unsigned n_token_requests;
        bool manifest_authorized;       /* the manifest was asked for with the token */
} Registry;

#define MANIFEST "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\"}"

static void reply(int fd, const char *status, const char *headers, const char *body) {
        char buf[1024];
        int n;

        n = snprintf(buf, sizeof(buf), "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                     status, strlen(body), headers, body);
        ASSERT_TRUE(n > 0 && (size_t) n < sizeof(buf));
        (void) send(fd, buf, (size_t) n, MSG_NOSIGNAL);
}

static void* registry_server(void *userdata) {
        Registry *reg = userdata;

        for (;;) {
                _cleanup_close_ int fd = accept4(reg->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                char buf[4096], challenge[160];
                bool bearer;
                size_t n = 0;

                if (fd < 0)
                        return NULL;
                while (n < sizeof(buf) - 1) {
                        ssize_t k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
                        if (k <= 0)
                                break;
                        n += (size_t) k;
                        buf[n] = 0;
                        if (buf[0] == 0x16 || strstr(buf, "\r\n\r\n"))
                                break;
                }
                if (n == 0 || buf[0] == 0x16)
                        continue;

                bearer = !!strstr(buf, "\r\nAuthorization: Bearer T0KEN\r\n");
                snprintf(challenge, sizeof(challenge),
                         "WWW-Authenticate: Bearer realm=\"%s\",service=\"test\"\r\n", reg->realm);
                if (startswith(buf, "GET /v2/ "))
                        reply(fd, reg->token == TOKEN_NONE ? "200 OK" : "401 Unauthorized",
                              reg->token == TOKEN_NONE ? "" : challenge, "{}");
                else if (startswith(buf, "GET /token?scope=repository%3Ateam%2Fapp%3Apull&service=test ")) {
                        reg->n_token_requests++;
                        reply(fd, "200 OK", "Content-Type: application/json\r\n",
                              reg->token == TOKEN_GOOD ? "{\"token\": \"T0KEN\", \"expires_in\": 60}" :
                              "{\"details\": \"no token for you\"}");
                } else if (startswith(buf, "GET /v2/team/app/manifests/latest ")) {
                        if (reg->token != TOKEN_NONE && !bearer) {
                                reply(fd, "401 Unauthorized", challenge, "{}");
                                continue;
                        }
                        reg->manifest_authorized = bearer;
                        reply(fd, "200 OK", "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
                              MANIFEST);
                } else
                        reply(fd, "404 Not Found", "Content-Type: application/json\r\n",
                              "{\"errors\": [{\"code\": \"MANIFEST_UNKNOWN\"}]}");
        }
}

static unsigned registry_start(Registry *reg, Token token, pthread_t *ret_thread) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        unsigned port;

        *reg = (Registry) { .listen_fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0), .token = token };
        ASSERT_TRUE(reg->listen_fd >= 0);
        ASSERT_OK(bind(reg->listen_fd, (struct sockaddr*) &sa, sizeof(sa)));
        ASSERT_OK(listen(reg->listen_fd, 8));
        ASSERT_OK(getsockname(reg->listen_fd, (struct sockaddr*) &sa, &l));
        port = ntohs(sa.sin_port);
        snprintf(reg->realm, sizeof(reg->realm), "http://127.0.0.1:%u/token", port);
        ASSERT_EQ(pthread_create(ret_thread, NULL, registry_server, reg), 0);
        return port;
}

static void registry_stop(Registry *reg, pthread_t thread) {
        /* Wakes the accept() with EINVAL. */
        ASSERT_OK(shutdown(reg->listen_fd, SHUT_RDWR));
        ASSERT_EQ(pthread_join(thread, NULL), 0);
        safe_close(reg->listen_fd);
}

static void client_env(void) {
        ASSERT_OK(setenv("MKMACHINE_REGISTRIES_CONF", "/nonexistent/registries.conf", 1));
        ASSERT_OK(setenv("REGISTRY_AUTH_FILE", "/nonexistent/auth.json", 1));
        ASSERT_OK(setenv("MKMACHINE_RETRY_DELAY_MS", "1", 1));
}

static int client_new(unsigned port, RegistryClient **ret, char **reterr_message) {
        char registry[32];
        OciReference ref;

        snprintf(registry, sizeof(registry), "127.0.0.1:%u", port);
        ref = (OciReference) {
                .registry = registry,
                .repository = (char*) "team/app",
                .tag = (char*) "latest",
        };
        /* Without verification: plain HTTP is allowed after https:// fails, as podman does. */
        return registry_client_new(&ref, &(RegistryOptions) { .tls_verify = 0 }, ret, reterr_message);
}

TEST(anonymous_registry) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_free_ char *msg = NULL, *digest = NULL, *url = NULL;
        char hex[65];
        pthread_t thread;
        Registry reg;
        unsigned port;

        client_env();
        port = registry_start(&reg, TOKEN_NONE, &thread);
        ASSERT_OK(client_new(port, &c, &msg));
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u", port) > 0);
        ASSERT_STREQ(registry_client_url(c), url);
        ASSERT_FALSE(registry_client_authenticated(c));

        ASSERT_OK(registry_manifest_digest(c, "latest", &digest, &msg));
        ASSERT_OK(sha256_hex(MANIFEST, strlen(MANIFEST), hex));
        ASSERT_TRUE(startswith(digest, "sha256:"));
        ASSERT_STREQ(digest + 7, hex);

        ASSERT_ERROR(registry_manifest_digest(c, "missing", &digest, &msg), ENOENT);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "has no image missing"));

        registry_stop(&reg, thread);
        ASSERT_EQ(reg.n_token_requests, 0U);
        ASSERT_FALSE(reg.manifest_authorized);
}

TEST(bearer_token_is_used) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_free_ char *msg = NULL, *digest = NULL;
        pthread_t thread;
        Registry reg;
        unsigned port;

        client_env();
        port = registry_start(&reg, TOKEN_GOOD, &thread);
        ASSERT_OK(client_new(port, &c, &msg));
        ASSERT_OK(registry_manifest_digest(c, "latest", &digest, &msg));
        /* What the server saw, once its thread is done (joined). */
        registry_stop(&reg, thread);
        ASSERT_EQ(reg.n_token_requests, 1U);
        ASSERT_TRUE(reg.manifest_authorized);
}

TEST(token_reply_without_token) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        pthread_t thread;
        Registry reg;
        unsigned port;

        client_env();
        port = registry_start(&reg, TOKEN_MISSING, &thread);
        ASSERT_ERROR(client_new(port, &c, &msg), EBADMSG);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, reg.realm));
        ASSERT_TRUE(strstr(msg, "the answer has no token"));
        ASSERT_NULL(c);
        registry_stop(&reg, thread);
}

DEFINE_TEST_MAIN
