/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "error-util.h"
#include "fd-util.h"
#include "log.h"
#include "oci-registry.h"
#include "oci-registry-reply.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define RETRIES 4U
#define DOWNLOAD_PARALLEL 4U

static const char manifest_accept[] =
        "Accept: application/vnd.oci.image.index.v1+json, "
        "application/vnd.oci.image.manifest.v1+json, "
        "application/vnd.docker.distribution.manifest.list.v2+json, "
        "application/vnd.docker.distribution.manifest.v2+json";

struct RegistryClient {
        char *registry;         /* as referenced */
        char *repository;
        char *base;             /* https://HOST */
        char *auth_header;      /* "Authorization: …" or NULL */
        char **headers;         /* for download items: auth_header or empty */
        char *user, *password;
        bool tls_verify;
        char *ca_file;
        bool push;
};

static char* strjoin_alloc(const char *a, const char *b) {
        char *s;

        if (asprintf(&s, "%s%s", a, b) < 0)
                return NULL;
        return s;
}

/* Milliseconds before retry n (0-based): 500 ms doubling; MKMACHINE_RETRY_DELAY_MS for tests. */
static void backoff(unsigned n) {
        const char *e = getenv("MKMACHINE_RETRY_DELAY_MS");
        unsigned long ms = e ? strtoul(e, NULL, 10) : 500;
        struct timespec ts;

        ms <<= MIN(n, 6U);
        ts = (struct timespec) { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

typedef struct Response {
        CURLcode code;
        long status;
        char *body;
        size_t size, max;
        bool too_big;
        char *content_type;
        char *www_authenticate;
        char *docker_digest;
        char *location;
        char error[CURL_ERROR_SIZE];
} Response;

static void response_done(Response *r) {
        free(r->body);
        free(r->content_type);
        free(r->www_authenticate);
        free(r->docker_digest);
        free(r->location);
        *r = (Response) {};
}

static size_t body_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        Response *r = userdata;
        size_t n = size * nmemb;
        char *b;

        if (r->size + n > r->max) {
                r->too_big = true;
                return 0;
        }
        b = realloc(r->body, r->size + n + 1);
        if (!b)
                return 0;
        memcpy(b + r->size, data, n);
        r->body = b;
        r->size += n;
        r->body[r->size] = 0;
        return n;
}

static void set_header(char **field, const char *v, size_t n) {
        while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
                n--;
        free(*field);
        *field = strndup(v, n);
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        Response *r = userdata;
        size_t n = size * nmemb;
        static const struct {
                const char *name;
                size_t offset;
        } fields[] = {
                { "content-type:",          offsetof(Response, content_type)     },
                { "www-authenticate:",      offsetof(Response, www_authenticate) },
                { "docker-content-digest:", offsetof(Response, docker_digest)    },
                { "location:",              offsetof(Response, location)         },
        };

        /* A new response (after a redirect or 100): forget the last one's headers. */
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
                for (size_t k = 0; k < ELEMENTSOF(fields); k++) {
                        char **f = (char**) ((uint8_t*) r + fields[k].offset);
                        *f = mfree(*f);
                }
        for (size_t k = 0; k < ELEMENTSOF(fields); k++) {
                size_t l = strlen(fields[k].name);
                if (n > l && strncasecmp(data, fields[k].name, l) == 0) {
                        const char *v = data + l;
                        size_t m = n - l;
                        while (m > 0 && (*v == ' ' || *v == '\t')) {
                                v++;
                                m--;
                        }
                        set_header((char**) ((uint8_t*) r + fields[k].offset), v, m);
                }
        }
        return n;
}

static bool response_transient(const Response *r) {
        switch (r->code) {
        case CURLE_OK:
                return r->status == 429 || r->status >= 500;
        default:
                return curl_code_is_transient(r->code);
        }
}

/* What a request sends: a buffer, or size bytes of fd from its start. */
typedef struct Upload {
        int fd;
        const void *data;
        uint64_t size, offset;
} Upload;

static size_t upload_read(char *buf, size_t size, size_t nitems, void *userdata) {
        Upload *u = userdata;
        size_t n = MIN(size * nitems, (size_t) (u->size - u->offset));
        ssize_t k;

        if (n == 0)
                return 0;
        if (u->data) {
                memcpy(buf, (const uint8_t*) u->data + u->offset, n);
                k = (ssize_t) n;
        } else {
                k = pread(u->fd, buf, n, (off_t) u->offset);
                if (k <= 0)
                        return CURL_READFUNC_ABORT;
        }
        u->offset += (uint64_t) k;
        return (size_t) k;
}

/* One request to url, without retries: GET (following redirects, to a blob's storage), HEAD, POST
 * (empty) or PUT (of up). Sends the header lines in headers (a NULL one is skipped) and, with user, HTTP
 * basic authentication; keeps up to max bytes of the body. 0 with the response (any status), or a
 * negative errno. */
static int request_once(const RegistryClient *c, const char *method, const char *url,
                        const char * const headers[static 2], const char *user, const char *password,
                        Upload *up, size_t max, Response *ret) {
        uint64_t deadline = download_deadline_sec(up ? MAX(up->size, (uint64_t) max) : (uint64_t) max);
        struct curl_slist *h = NULL, *t;
        CURL *curl;
        int r = 0;

        *ret = (Response) { .max = max };
        curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        for (size_t k = 0; k < 2 && r >= 0; k++) {
                if (!headers[k])
                        continue;
                t = curl_slist_append(h, headers[k]);
                if (!t)
                        r = -ENOMEM;
                else
                        h = t;
        }
        if (r >= 0 &&
            (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_cb) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_WRITEDATA, ret) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_HEADERDATA, ret) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ret->error) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) deadline) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_USERAGENT, "mkmachine") != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
             (h && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h) != CURLE_OK) ||
             (user && (curl_easy_setopt(curl, CURLOPT_USERNAME, user) != CURLE_OK ||
                       curl_easy_setopt(curl, CURLOPT_PASSWORD, password) != CURLE_OK ||
                       curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC) != CURLE_OK)) ||
             (c->ca_file && curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file) != CURLE_OK) ||
             (!c->tls_verify && (curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
                                 curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))))
                r = -EIO;
        if (r >= 0 && streq(method, "GET") &&
            (curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK))
                r = -EIO;
        if (r >= 0 && streq(method, "HEAD") && curl_easy_setopt(curl, CURLOPT_NOBODY, 1L) != CURLE_OK)
                r = -EIO;
        if (r >= 0 && streq(method, "POST") &&
            (curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "") != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L) != CURLE_OK))
                r = -EIO;
        if (r >= 0 && streq(method, "PUT") &&
            (curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_READDATA, up) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) up->size) != CURLE_OK))
                r = -EIO;
        if (r >= 0) {
                ret->code = curl_easy_perform(curl);
                (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ret->status);
                if (ret->code == CURLE_OPERATION_TIMEDOUT) {
                        curl_off_t elapsed = 0;

                        /* The deadline, not the low-speed limit: say which. */
                        (void) curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &elapsed);
                        if ((uint64_t) elapsed + USEC_PER_SEC / 2 >= deadline * USEC_PER_SEC)
                                snprintf(ret->error, sizeof(ret->error), "not done within the deadline of "
                                         "%" PRIu64 " s (MKMACHINE_DOWNLOAD_TIMEOUT= sets it)", deadline);
                }
                if (!ret->error[0])
                        snprintf(ret->error, sizeof(ret->error), "%s", curl_easy_strerror(ret->code));
        }
        curl_slist_free_all(h);
        curl_easy_cleanup(curl);
        return r;
}

/* A GET with retries on transient errors. 0 with the response (any status) or a negative errno. */
static int get(const RegistryClient *c, const char *url, const char *accept, const char *auth,
               const char *user, const char *password, size_t max, Response *ret) {
        int r;

        for (unsigned n = 0;; n++) {
                r = request_once(c, "GET", url, (const char*[]) { accept, auth }, user, password,
                                 /* up= */ NULL, max, ret);
                if (r < 0 || !response_transient(ret) || n + 1 >= RETRIES)
                        return r;
                log_debug("GET %s: %s (HTTP %li), retrying.", url, ret->error, ret->status);
                response_done(ret);
                backoff(n);
        }
}

static int describe_failure(const char *url, const Response *resp, char **reterr_message) {
        if (resp->too_big)
                return error_message(reterr_message, -E2BIG, "%s: the response is too large.", url);
        if (resp->code != CURLE_OK)
                return error_message(reterr_message,
                                     resp->code == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
                                     "%s: %s", url, resp->error);
        return error_message(reterr_message, resp->status == 404 ? -ENOENT : resp->status == 401 ||
                             resp->status == 403 ? -EACCES : -EIO, "%s: HTTP status %li%s%.200s", url,
                             resp->status, resp->body ? ": " : ".", resp->body ?: "");
}

RegistryClient* registry_client_free(RegistryClient *c) {
        if (!c)
                return NULL;
        free(c->registry);
        free(c->repository);
        free(c->base);
        free(c->auth_header);
        strv_free(c->headers);
        free(c->user);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        free(c->ca_file);
        return mfree(c);
}

const char* registry_client_url(const RegistryClient *c) {
        return c->base;
}

bool registry_client_authenticated(const RegistryClient *c) {
        return !!c->user;
}

static int read_text_file(const char *path, size_t max, char **ret) {
        return read_full_file_at(AT_FDCWD, path, max, ret, NULL);
}

static int load_settings(RegistryClient *c, const RegistryOptions *o, char **reterr_message) {
        const char *path = getenv("MKMACHINE_REGISTRIES_CONF") ?: REGISTRIES_CONF_DEFAULT;
        _cleanup_(registry_settings_done) RegistrySettings s = { .tls_verify = -1 };
        _cleanup_free_ char *text = NULL;
        unsigned line = 0;
        int r;

        r = read_text_file(path, 1024 * 1024, &text);
        if (r < 0 && r != -ENOENT)
                return error_message(reterr_message, r, "Failed to read %s: %s", path, strerror(-r));
        if (r >= 0) {
                r = registry_settings_parse(text, c->registry, &s, &line);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_message(reterr_message, r, "%s:%u: invalid line (TLSVerify=yes|no, "
                                             "CA=/FILE in [Registry HOST[:PORT]] sections).", path, line);
        }

        c->tls_verify = o && o->tls_verify >= 0 ? o->tls_verify : s.tls_verify != 0;
        if (o && o->ca_file)
                c->ca_file = strdup(o->ca_file);
        else if (s.ca_file)
                c->ca_file = TAKE_PTR(s.ca_file);
        if (o && o->ca_file && !c->ca_file)
                return -ENOMEM;
        if (c->ca_file && access(c->ca_file, R_OK) < 0)
                return error_message(reterr_message, -errno, "Cannot read the CA bundle %s for %s: %s",
                                     c->ca_file, c->registry, strerror(errno));
        return 0;
}

static int load_credentials(RegistryClient *c, char **reterr_message) {
        _cleanup_strv_free_ char **files = NULL;
        const char *e;
        char *p;
        int r;

        e = getenv("REGISTRY_AUTH_FILE");
        if (e) {
                if (strv_extend(&files, e) < 0)
                        return -ENOMEM;
        } else {
                if ((e = getenv("XDG_RUNTIME_DIR"))) {
                        if (asprintf(&p, "%s/containers/auth.json", e) < 0 || strv_push(&files, p) < 0)
                                return -ENOMEM;
                } else {
                        if (asprintf(&p, "/run/containers/%u/auth.json", (unsigned) getuid()) < 0 ||
                            strv_push(&files, p) < 0)
                                return -ENOMEM;
                }
                if ((e = getenv("HOME"))) {
                        if (asprintf(&p, "%s/.config/containers/auth.json", e) < 0 ||
                            strv_push(&files, p) < 0 ||
                            asprintf(&p, "%s/.docker/config.json", e) < 0 || strv_push(&files, p) < 0)
                                return -ENOMEM;
                }
        }

        STRV_FOREACH(f, files) {
                _cleanup_free_ char *text = NULL;

                r = read_text_file(*f, 1024 * 1024, &text);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to read %s: %s", *f, strerror(-r));
                r = auth_json_lookup(text, strlen(text), c->registry, c->repository, &c->user, &c->password);
                if (r == -ENOENT)
                        continue;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_message(reterr_message, r, "%s: malformed, or its entry for %s is "
                                             "(expected {\"auths\": {\"%s\": {\"auth\": "
                                             "BASE64(USER:PASSWORD)}}}).", *f, c->registry, c->registry);
                log_debug("Using the credentials for %s from %s.", c->registry, *f);
                return 0;
        }
        return 0;
}

static int set_auth_header(RegistryClient *c, char *header) {
        free(c->auth_header);
        c->auth_header = header;
        strv_free(c->headers);
        c->headers = NULL;
        return strv_extend(&c->headers, header);
}

static int basic_header(const char *user, const char *password, char **ret) {
        _cleanup_free_ char *plain = NULL;
        _cleanup_free_ unsigned char *b64 = NULL;
        size_t n;

        if (asprintf(&plain, "%s:%s", user, password) < 0)
                return -ENOMEM;
        n = strlen(plain);
        b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
                return -ENOMEM;
        EVP_EncodeBlock(b64, (unsigned char*) plain, (int) n);
        explicit_bzero(plain, n);
        if (asprintf(ret, "Authorization: Basic %s", (char*) b64) < 0)
                return -ENOMEM;
        return 0;
}

static char* url_escape(const char *s) {
        char *e = curl_easy_escape(NULL, s, 0), *r;

        if (!e)
                return NULL;
        r = strdup(e);
        curl_free(e);
        return r;
}

static int bearer_token(RegistryClient *c, const AuthChallenge *ch, char **reterr_message) {
        _cleanup_free_ char *url = NULL, *scope = NULL, *service = NULL, *header = NULL, *token = NULL;
        _cleanup_(response_done) Response resp = {};
        int r;

        if (!startswith(ch->realm, "https://") && !(startswith(ch->realm, "http://") && !c->tls_verify))
                return error_message(reterr_message, -EACCES, "%s asks for a token from '%.200s', which is "
                                     "not an https:// URL (allowed only with --tls-verify=false).",
                                     c->registry, ch->realm);

        scope = url_escape(strjoina("repository:", c->repository,
                                    c->push ? ":pull,push" : ":pull"));
        service = ch->service ? url_escape(ch->service) : NULL;
        if (!scope || (ch->service && !service))
                return -ENOMEM;
        if (asprintf(&url, "%s%sscope=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", scope,
                     service ? "&service=" : "", service ?: "") < 0)
                return -ENOMEM;

        r = get(c, url, NULL, NULL, c->user, c->password, 1024 * 1024, &resp);
        if (r < 0)
                return r;
        if (resp.code == CURLE_OK && (resp.status == 401 || resp.status == 403))
                return error_message(reterr_message, -EACCES, "%s refused %s for a token (HTTP %li): %s",
                                     ch->realm, c->user ? "the credentials" : "anonymous access",
                                     resp.status, c->user ? "wrong user name or password?" :
                                     "log in with 'podman login' or name an auth file in "
                                     "REGISTRY_AUTH_FILE.");
        if (resp.code != CURLE_OK || resp.status != 200)
                return describe_failure(ch->realm, &resp, reterr_message);

        r = registry_token_reply_parse(resp.body, &token);
        if (r == -EBADMSG)
                return error_message(reterr_message, r, "%s: the answer has no token.", ch->realm);
        if (r < 0)
                return r;
        if (asprintf(&header, "Authorization: Bearer %s", token) < 0)
                return -ENOMEM;
        r = set_auth_header(c, TAKE_PTR(header));
        return r;
}

/* GET /v2/: which scheme works, and what the registry wants of us. */
static int ping(RegistryClient *c, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_(auth_challenge_done) AuthChallenge ch = {};
        _cleanup_free_ char *url = NULL;
        const char *endpoint = NULL;
        int r;

        for (unsigned k = 0; k < 2; k++) {
                endpoint = c->registry;
                if (streq(endpoint, DOCKER_HUB))
                        endpoint = DOCKER_HUB_ENDPOINT;
                free(c->base);
                c->base = strjoin_alloc(k == 0 ? "https://" : "http://", endpoint);
                url = mfree(url);
                url = strjoin_alloc(c->base, "/v2/");
                if (!c->base || !url)
                        return -ENOMEM;
                response_done(&resp);
                r = get(c, url, NULL, NULL, NULL, NULL, 64 * 1024, &resp);
                if (r < 0)
                        return r;
                /* Plain HTTP only for a registry whose TLS we were told not to verify, as podman. */
                if (resp.code == CURLE_OK || c->tls_verify)
                        break;
                log_debug("%s: %s; trying plain HTTP.", url, resp.error);
        }
        if (resp.code == CURLE_PEER_FAILED_VERIFICATION || resp.code == CURLE_SSL_CACERT_BADFILE ||
            resp.code == CURLE_SSL_CONNECT_ERROR)
                return error_message(reterr_message, -EPERM, "%s: TLS failed: %s. For a registry with a "
                                     "certificate of its own use CA= in %s, or --tls-verify=false (no "
                                     "verification; also allows plain HTTP) if you trust the network.",
                                     c->registry, resp.error,
                                     getenv("MKMACHINE_REGISTRIES_CONF") ?: REGISTRIES_CONF_DEFAULT);
        if (resp.code != CURLE_OK)
                return error_message(reterr_message, -EIO, "Cannot reach registry %s: %s", c->registry,
                                     resp.error);
        if (resp.status == 200)
                return 0;       /* anonymous access */
        if (resp.status != 401)
                return describe_failure(url, &resp, reterr_message);

        r = auth_challenge_parse(resp.www_authenticate, &ch);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_message(reterr_message, -EACCES, "%s asks for authentication with a challenge "
                                     "we cannot answer: '%.200s'.", c->registry,
                                     strna(resp.www_authenticate));
        if (ch.scheme == AUTH_SCHEME_BEARER)
                return bearer_token(c, &ch, reterr_message);

        if (!c->user)
                return error_message(reterr_message, -EACCES, "%s requires a user name and password, and "
                                     "none is configured: log in with 'podman login %s', or name an "
                                     "auth.json in REGISTRY_AUTH_FILE.", c->registry, c->registry);
        url = mfree(url);
        r = basic_header(c->user, c->password, &url);
        if (r < 0)
                return r;
        r = set_auth_header(c, TAKE_PTR(url));
        if (r < 0)
                return r;

        /* Check the credentials now, for a clear error. */
        url = strjoin_alloc(c->base, "/v2/");
        if (!url)
                return -ENOMEM;
        response_done(&resp);
        r = get(c, url, NULL, c->auth_header, NULL, NULL, 64 * 1024, &resp);
        if (r < 0)
                return r;
        if (resp.code == CURLE_OK && resp.status == 401)
                return error_message(reterr_message, -EACCES,
                                     "%s refused the credentials (wrong user name or password?).",
                                     c->registry);
        if (resp.code != CURLE_OK || resp.status != 200)
                return describe_failure(url, &resp, reterr_message);
        return 0;
}

int registry_client_new(const OciReference *ref, const RegistryOptions *o, RegistryClient **ret,
                        char **reterr_message) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        int r;

        assert(ref->registry);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;

        c = calloc(1, sizeof(RegistryClient));
        if (!c)
                return -ENOMEM;
        c->registry = strdup(ref->registry);
        c->repository = strdup(ref->repository);
        c->headers = calloc(1, sizeof(char*));
        if (!c->registry || !c->repository || !c->headers)
                return -ENOMEM;
        c->push = o && o->push;

        r = load_settings(c, o, reterr_message);
        if (r < 0)
                return r;
        r = load_credentials(c, reterr_message);
        if (r < 0)
                return r;
        r = ping(c, reterr_message);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

/* A small document (manifest, index, config) by digest or tag, in memory. */
static int fetch_small(RegistryClient *c, const char *kind, const char *ref, Response *ret,
                       char **reterr_message) {
        _cleanup_free_ char *url = NULL;
        int r;

        if (asprintf(&url, "%s/v2/%s/%s/%s", c->base, c->repository, kind, ref) < 0)
                return -ENOMEM;
        r = get(c, url, streq(kind, "manifests") ? manifest_accept : NULL, c->auth_header, NULL, NULL,
                OCI_JSON_SIZE_MAX, ret);
        if (r < 0)
                return r;
        if (ret->code != CURLE_OK || ret->status != 200) {
                if (ret->code == CURLE_OK && ret->status == 404)
                        r = error_message(reterr_message, -ENOENT, "%s/%s has no %s %s.", c->registry,
                                          c->repository, streq(kind, "manifests") ? "image" : "blob", ref);
                else
                        r = describe_failure(url, ret, reterr_message);
                response_done(ret);
                return r;
        }
        return 0;
}

typedef enum LayerState {
        LAYER_PENDING,
        LAYER_DONE,
} LayerState;

struct OciPull {
        RegistryClient *client;
        int cache_fd;
        OciBlobSource blobs;
        char **digests;                 /* every blob used */
        uint64_t downloaded;

        /* The download thread and what it tells the unpacker. */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char **layer_digests;           /* those to download */
        LayerState *states;
        uint64_t *sizes;
        bool finished;
        int result;
        char *error;
        Progress *progress;
};

static int remember_digest(OciPull *p, const char *digest) {
        if (strv_contains(p->digests, digest))
                return 0;
        return strv_extend(&p->digests, digest);
}

/* Stores a verified document in the cache. */
static int cache_store(OciPull *p, const char *hex, const void *data, size_t size) {
        return write_file_atomic_at(p->cache_fd, hex, data, size, 0644);
}

static int cache_open(OciPull *p, const char *hex, int *ret_fd) {
        int fd = openat(p->cache_fd, hex, O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK);

        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static ssize_t layer_index(OciPull *p, const char *digest) {
        for (size_t k = 0; p->layer_digests && p->layer_digests[k]; k++)
                if (streq(p->layer_digests[k], digest))
                        return (ssize_t) k;
        return -1;
}

static int pull_blob_open(void *userdata, const char *digest, int *ret_fd) {
        OciPull *p = userdata;
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *msg = NULL;
        char hex[65], got[65];
        ssize_t k;
        int r;

        r = oci_digest_parse(digest, hex);
        if (r < 0)
                return r;
        r = remember_digest(p, digest);
        if (r < 0)
                return r;

        pthread_mutex_lock(&p->lock);
        k = layer_index(p, digest);
        if (k >= 0)
                while (p->states[k] != LAYER_DONE && !(p->finished && p->result < 0))
                        pthread_cond_wait(&p->cond, &p->lock);
        r = k >= 0 && p->states[k] != LAYER_DONE ? -EIO : 0;
        pthread_mutex_unlock(&p->lock);
        if (r < 0)
                return r;
        if (k >= 0)
                return cache_open(p, hex, ret_fd);

        /* Anything else (nested manifests, the config): the cache, else the registry. Whatever the
         * cache holds was verified when it was stored (and the caller verifies it again). */
        r = cache_open(p, hex, ret_fd);
        if (r != -ENOENT)
                return r;

        r = fetch_small(p->client, "blobs", digest, &resp, &msg);
        if (r == -ENOENT) {
                /* Registries keep manifests apart from blobs. */
                msg = mfree(msg);
                r = fetch_small(p->client, "manifests", digest, &resp, &msg);
        }
        if (r < 0) {
                log_debug("%s", strna(msg));
                return r == -ENOENT || r == -ETIMEDOUT ? r : -EIO;
        }
        r = sha256_hex(resp.body ?: "", resp.size, got);
        if (r < 0)
                return r;
        if (!streq(got, hex))
                return -EBADMSG;        /* the caller names it */
        pthread_mutex_lock(&p->lock);
        p->downloaded += resp.size;
        pthread_mutex_unlock(&p->lock);
        r = cache_store(p, hex, resp.body ?: "", resp.size);
        if (r < 0)
                return r;
        return cache_open(p, hex, ret_fd);
}

int oci_pull_new(RegistryClient *c, int cache_fd, OciPull **ret) {
        OciPull *p = calloc(1, sizeof(OciPull));

        if (!p)
                return -ENOMEM;
        p->client = c;
        p->cache_fd = cache_fd;
        p->blobs = (OciBlobSource) { .open = pull_blob_open, .userdata = p };
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        *ret = p;
        return 0;
}

OciPull* oci_pull_free(OciPull *p) {
        if (!p)
                return NULL;
        if (p->thread_started)
                (void) oci_pull_finish(p, NULL);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        strv_free(p->digests);
        strv_free(p->layer_digests);
        free(p->states);
        free(p->sizes);
        free(p->error);
        return mfree(p);
}

const OciBlobSource* oci_pull_blobs(OciPull *p) {
        return &p->blobs;
}

char* const* oci_pull_digests(const OciPull *p) {
        return p->digests;
}

uint64_t oci_pull_downloaded(const OciPull *p) {
        return p->downloaded;
}

int oci_pull_resolve(OciPull *p, const OciReference *ref, const OciPlatform *want, OciImage **ret_image,
                     char **ret_root_digest, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *digest = NULL;
        const char *what = ref->digest ?: ref->tag;
        OciMediaType type;
        char hex[65];
        int r;

        r = fetch_small(p->client, "manifests", what, &resp, reterr_message);
        if (r < 0)
                return r;

        r = sha256_hex(resp.body ?: "", resp.size, hex);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to compute the digest of the manifest.");
        if (asprintf(&digest, "sha256:%s", hex) < 0)
                return -ENOMEM;
        if (ref->digest && !streq(ref->digest, digest))
                return error_message(reterr_message, -EBADMSG, "The manifest %s/%s sent for %s has the "
                                     "digest %s: damaged or tampered with.", ref->registry, ref->repository,
                                     ref->digest, digest);
        if (!ref->digest && resp.docker_digest && startswith(resp.docker_digest, "sha256:") &&
            !streq(resp.docker_digest, digest))
                return error_message(reterr_message, -EBADMSG, "The manifest of %s/%s:%s has the digest %s, "
                                     "the registry says %s: damaged or tampered with.", ref->registry,
                                     ref->repository, ref->tag, digest, resp.docker_digest);

        type = registry_manifest_media_type(resp.content_type, resp.body);
        if (!oci_media_type_is_index(type) && !oci_media_type_is_manifest(type))
                return error_message(reterr_message, -EOPNOTSUPP, "%s/%s:%s is of media type '%.100s', "
                                     "neither an image index nor a manifest (Docker schema 1 images are not "
                                     "supported).", ref->registry, ref->repository, what,
                                     strna(resp.content_type));

        r = cache_store(p, hex, resp.body ?: "", resp.size);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to store the manifest in the cache: %s",
                                     strerror(-r));

        r = oci_image_resolve_descriptor(&p->blobs, type, digest, resp.size, want, ret_image,
                                         reterr_message);
        if (r < 0)
                return r;
        if (ret_root_digest)
                *ret_root_digest = TAKE_PTR(digest);
        return 0;
}

static void layer_done(const DownloadItem *item, void *userdata) {
        OciPull *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (size_t k = 0; p->layer_digests[k]; k++)
                if (endswith(p->layer_digests[k], item->name))
                        p->states[k] = LAYER_DONE;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

static void* download_thread(void *userdata) {
        OciPull *p = userdata;
        size_t n = strv_length(p->layer_digests);
        _cleanup_free_ DownloadItem *items = calloc(MAX(n, 1U), sizeof(DownloadItem));
        _cleanup_free_ char **urls = calloc(MAX(n, 1U), sizeof(char*));
        _cleanup_free_ bool *transient = calloc(MAX(n, 1U), sizeof(bool));
        int r = -ENOMEM;

        if (!items || !urls || !transient)
                goto finish;
        for (size_t k = 0; k < n; k++)
                if (asprintf(&urls[k], "%s/v2/%s/blobs/%s", p->client->base, p->client->repository,
                             p->layer_digests[k]) < 0)
                        goto finish;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_free_ char *msg = NULL;
                size_t m = 0;
                uint64_t bytes = 0;
                bool again = false;

                pthread_mutex_lock(&p->lock);
                for (size_t k = 0; k < n; k++) {
                        if (p->states[k] == LAYER_DONE)
                                continue;
                        transient[m] = false;
                        items[m] = (DownloadItem) {
                                .url = urls[k],
                                .dir_fd = p->cache_fd,
                                .name = p->layer_digests[k] + strlen("sha256:"),
                                .size = p->sizes[k],
                                .sha256 = p->layer_digests[k] + strlen("sha256:"),
                                .headers = p->client->headers,
                                .tls_no_verify = !p->client->tls_verify,
                                .ca_file = p->client->ca_file,
                                .resume = true,
                                .ret_transient = transient + m,
                                .done = layer_done,
                                .userdata = p,
                        };
                        m++;
                }
                pthread_mutex_unlock(&p->lock);

                r = download_many(items, m, DOWNLOAD_PARALLEL, p->progress, &bytes, &msg);
                pthread_mutex_lock(&p->lock);
                p->downloaded += bytes;
                pthread_mutex_unlock(&p->lock);
                if (r >= 0)
                        break;
                for (size_t k = 0; k < m; k++)
                        again = again || transient[k];
                if (!again || attempt + 1 >= RETRIES) {
                        p->error = TAKE_PTR(msg);
                        break;
                }
                log_debug("Download failed (%s), retrying.", strna(msg));
                backoff(attempt);
        }

finish:
        for (size_t k = 0; urls && k < n; k++)
                free(urls[k]);
        pthread_mutex_lock(&p->lock);
        p->finished = true;
        p->result = r;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int oci_pull_start(OciPull *p, const OciImage *img, Progress *progress) {
        size_t n = 0;
        int r;

        p->states = calloc(MAX(img->n_layers, 1U), sizeof(LayerState));
        p->sizes = calloc(MAX(img->n_layers, 1U), sizeof(uint64_t));
        if (!p->states || !p->sizes)
                return -ENOMEM;
        for (size_t k = 0; k < img->n_layers; k++) {
                char hex[65];

                r = oci_digest_parse(img->layers[k].digest, hex);
                if (r < 0)
                        return r;
                /* In the cache: verified when it was stored (and again while it is unpacked). */
                if (faccessat(p->cache_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) >= 0 ||
                    strv_contains(p->layer_digests, img->layers[k].digest))
                        continue;
                r = strv_extend(&p->layer_digests, img->layers[k].digest);
                if (r < 0)
                        return r;
                p->sizes[n++] = img->layers[k].size;
        }
        p->progress = progress;
        r = -pthread_create(&p->thread, NULL, download_thread, p);
        if (r < 0)
                return r;
        p->thread_started = true;
        return 0;
}

int oci_pull_finish(OciPull *p, char **reterr_message) {
        if (p->thread_started) {
                (void) pthread_join(p->thread, NULL);
                p->thread_started = false;
        }
        if (p->result < 0 && reterr_message && !*reterr_message && p->error)
                *reterr_message = strdup(p->error);
        return p->result;
}

int registries_search_list(char ***ret, char **reterr_message) {
        const char *path = getenv("CONTAINERS_REGISTRIES_CONF") ?: CONTAINERS_REGISTRIES_CONF_DEFAULT;
        _cleanup_free_ char *text = NULL;
        unsigned line = 0;
        int r;

        r = read_text_file(path, 1024 * 1024, &text);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return error_message(reterr_message, r, "Failed to read %s: %s", path, strerror(-r));
        r = containers_registries_parse(text, ret, &line);
        if (r == -EINVAL)
                return error_message(reterr_message, r, "%s:%u: cannot parse unqualified-search-registries "
                                     "(expected a list of quoted registry names).", path, line);
        return r;
}

/* One HEAD, POST (empty) or PUT (of up) to url with our credentials, without retries. */
static int request(const RegistryClient *c, const char *method, const char *url, const char *header,
                   Upload *up, Response *ret) {
        return request_once(c, method, url, (const char*[]) { c->auth_header, header },
                            /* user= */ NULL, /* password= */ NULL, up, 64 * 1024, ret);
}

static int push_failure(const RegistryClient *c, const char *what, const Response *resp,
                        char **reterr_message) {
        if (resp->code == CURLE_OK && (resp->status == 401 || resp->status == 403))
                return error_message(reterr_message, -EACCES,
                                     "%s refused to let us push to %s (HTTP %li): %s",
                                     c->registry, c->repository, resp->status, c->user ?
                                     "do the credentials allow pushing?" :
                                     "log in with 'podman login' or name an auth file in "
                                     "REGISTRY_AUTH_FILE.");
        return describe_failure(what, resp, reterr_message);
}

int registry_blob_exists(RegistryClient *c, const char *digest, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *url = NULL;
        int r;

        if (asprintf(&url, "%s/v2/%s/blobs/%s", c->base, c->repository, digest) < 0)
                return -ENOMEM;
        r = request(c, "HEAD", url, NULL, NULL, &resp);
        if (r < 0)
                return r;
        if (resp.code == CURLE_OK && resp.status == 200)
                return 1;
        if (resp.code == CURLE_OK && resp.status == 404)
                return 0;
        return push_failure(c, url, &resp, reterr_message);
}

static int upload(RegistryClient *c, const char *digest, Upload *up, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *url = NULL, *put = NULL, *escaped = NULL;
        const char *loc;
        int r;

        if (asprintf(&url, "%s/v2/%s/blobs/uploads/", c->base, c->repository) < 0)
                return -ENOMEM;
        r = request(c, "POST", url, NULL, NULL, &resp);
        if (r < 0)
                return r;
        if (resp.code != CURLE_OK || resp.status != 202)
                return push_failure(c, url, &resp, reterr_message);
        loc = resp.location;
        if (isempty(loc) || strpbrk(loc, "\r\n"))
                return error_message(reterr_message, -EBADMSG, "%s: the registry named no upload location.",
                                     url);

        escaped = url_escape(digest);
        if (!escaped)
                return -ENOMEM;
        /* The location may be relative to the registry, and may have a query of its own. */
        if (asprintf(&put, "%s%s%sdigest=%s", loc[0] == '/' ? c->base : "", loc,
                     strchr(loc, '?') ? "&" : "?", escaped) < 0)
                return -ENOMEM;
        response_done(&resp);
        r = request(c, "PUT", put, "Content-Type: application/octet-stream", up, &resp);
        if (r < 0)
                return r;
        if (resp.code != CURLE_OK || resp.status != 201)
                return push_failure(c, url, &resp, reterr_message);
        return 0;
}

int registry_blob_upload(RegistryClient *c, const char *digest, int fd, uint64_t size,
                         char **reterr_message) {
        return upload(c, digest, &(Upload) { .fd = fd, .size = size }, reterr_message);
}

int registry_blob_upload_data(RegistryClient *c, const char *digest, const void *data, size_t size,
                              char **reterr_message) {
        return upload(c, digest, &(Upload) { .fd = -EBADF, .data = data, .size = size }, reterr_message);
}

int registry_manifest_put(RegistryClient *c, const char *tag, const char *media_type, const char *data,
                          size_t size, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *url = NULL;
        int r;

        if (asprintf(&url, "%s/v2/%s/manifests/%s", c->base, c->repository, tag) < 0)
                return -ENOMEM;
        r = request(c, "PUT", url, strjoina("Content-Type: ", media_type),
                    &(Upload) { .fd = -EBADF, .data = data, .size = size }, &resp);
        if (r < 0)
                return r;
        if (resp.code != CURLE_OK || resp.status != 201)
                return push_failure(c, url, &resp, reterr_message);
        return 0;
}

int registry_manifest_digest(RegistryClient *c, const char *tag, char **ret, char **reterr_message) {
        _cleanup_(response_done) Response resp = {};
        char hex[65];

        /* A GET and our own hash rather than a HEAD and the registry's header: the header is optional,
         * and the manifest is small. */
        int r = fetch_small(c, "manifests", tag, &resp, reterr_message);
        if (r < 0)
                return r;
        r = sha256_hex(resp.body ?: "", resp.size, hex);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to compute the digest of the manifest.");
        if (asprintf(ret, "sha256:%s", hex) < 0)
                return -ENOMEM;
        return 0;
}
