/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parts of download.c that need no real server (the integration tests run it against one): digests,
 * verification, stale temporaries, a refused connection leaving nothing behind, the deadline against
 * a server on loopback that trickles, and the digest and size checks of a streaming download from one
 * that serves a file. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"

static char dir[64];

static int setup(void) {
        int fd;

        strcpy(dir, "/tmp/test-download.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static void cleanup(int fd) {
        _cleanup_close_ int tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        safe_close(fd);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

static size_t entries(int fd) {
        DIR *d = opendir_dup(fd);
        size_t n = 0;

        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

TEST(clean_stale) {
        struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
        int fd = setup();

        ASSERT_OK(write_file_atomic_at(fd, "keep.deb", "x", 1, 0644));
        ASSERT_OK(write_file_atomic_at(fd, ".#young.deb.0123", "x", 1, 0644));
        ASSERT_OK(write_file_atomic_at(fd, ".#old.deb.4567", "x", 1, 0644));
        ASSERT_OK(utimensat(fd, ".#old.deb.4567", old, 0));
        download_clean_stale(fd, 3600);
        ASSERT_EQ(entries(fd), 2U);
        ASSERT_EQ(faccessat(fd, ".#old.deb.4567", F_OK, 0), -1);
        cleanup(fd);
}

TEST(refused_connection_leaves_nothing) {
        _cleanup_free_ char *msg = NULL;
        int fd = setup();
        DownloadItem item = {
                /* Port 1 on loopback: nothing listens, the connection is refused at once. */
                .url = "http://127.0.0.1:1/pool/x.deb",
                .dir_fd = fd,
                .name = "x.deb",
                .size = 10,
        };

        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EIO);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "http://127.0.0.1:1/pool/x.deb"));
        ASSERT_EQ(entries(fd), 0U);

        /* Only http and https: no file://, no others. */
        item.url = "file:///etc/passwd";
        free(msg);
        msg = NULL;
        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EIO);
        ASSERT_EQ(entries(fd), 0U);

        item.name = "../escape";
        free(msg);
        msg = NULL;
        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EINVAL);
        cleanup(fd);
}

TEST(transient_codes) {
        /* What is tried again (downloads and registry requests alike), and what is not: a certificate or
         * an HTTP error status does not get better by asking twice. */
        ASSERT_TRUE(curl_code_is_transient(CURLE_COULDNT_CONNECT));
        ASSERT_TRUE(curl_code_is_transient(CURLE_PARTIAL_FILE));
        ASSERT_TRUE(curl_code_is_transient(CURLE_OPERATION_TIMEDOUT));
        ASSERT_TRUE(curl_code_is_transient(CURLE_GOT_NOTHING));
        ASSERT_FALSE(curl_code_is_transient(CURLE_OK));
        ASSERT_FALSE(curl_code_is_transient(CURLE_PEER_FAILED_VERIFICATION));
        ASSERT_FALSE(curl_code_is_transient(CURLE_HTTP_RETURNED_ERROR));
        ASSERT_FALSE(curl_code_is_transient(CURLE_URL_MALFORMAT));
}

TEST(deadline_default) {
        ASSERT_OK(unsetenv("MKMACHINE_DOWNLOAD_TIMEOUT"));
        ASSERT_EQ(download_deadline_sec(0), DOWNLOAD_DEADLINE_FLOOR_SEC);
        ASSERT_EQ(download_deadline_sec(UINT64_C(64) << 20), DOWNLOAD_DEADLINE_FLOOR_SEC + 1024);
        ASSERT_EQ(download_deadline_sec(UINT64_MAX), DOWNLOAD_DEADLINE_MAX_SEC);
        ASSERT_OK(setenv("MKMACHINE_DOWNLOAD_TIMEOUT", "7", 1));
        ASSERT_EQ(download_deadline_sec(UINT64_C(64) << 20), UINT64_C(7));
        ASSERT_OK(setenv("MKMACHINE_DOWNLOAD_TIMEOUT", "soon", 1));
        ASSERT_EQ(download_deadline_sec(0), DOWNLOAD_DEADLINE_FLOOR_SEC);
        ASSERT_OK(unsetenv("MKMACHINE_DOWNLOAD_TIMEOUT"));
}

/* Reads an HTTP request up to the end of its headers: 0, or -1 if the client went away first. */
static int read_request(int fd) {
        char buf[4096];
        size_t n = 0;

        while (n < sizeof(buf) - 1) {
                ssize_t k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
                if (k <= 0)
                        return -1;
                n += (size_t) k;
                buf[n] = 0;
                if (strstr(buf, "\r\n\r\n"))
                        return 0;
        }
        return 0;
}

/* An HTTP server on 127.0.0.1 that answers one request with 100 bytes announced and then sends one byte
 * every 200 ms: fast enough for the low-speed limit, far too slow to finish. It gives up after 20 s or
 * when the client has gone. */
static void* trickle_server(void *userdata) {
        int listen_fd = *(int*) userdata;
        _cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";

        if (fd < 0 || read_request(fd) < 0)
                return NULL;
        if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
                return NULL;
        for (unsigned i = 0; i < 100; i++) {
                if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
                        break;
                (void) usleep(200 * 1000);
        }
        return NULL;
}

TEST(trickling_server_is_cut_off) {
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int listen_fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        char url[64];
        pthread_t thread;
        usec_t start, took;
        int fd = setup();

        ASSERT_TRUE(listen_fd >= 0);
        ASSERT_OK(bind(listen_fd, (struct sockaddr*) &sa, sizeof(sa)));
        ASSERT_OK(listen(listen_fd, 1));
        ASSERT_OK(getsockname(listen_fd, (struct sockaddr*) &sa, &l));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/blob", (unsigned) ntohs(sa.sin_port));
        ASSERT_EQ(pthread_create(&thread, NULL, trickle_server, &listen_fd), 0);

        DownloadItem item = {
                .url = url,
                .dir_fd = fd,
                .name = "blob",
                .size = 100,
        };
        ASSERT_OK(setenv("MKMACHINE_DOWNLOAD_TIMEOUT", "2", 1));
        start = now_usec(CLOCK_MONOTONIC);
        ASSERT_EQ(download_many(&item, 1, 1, NULL, NULL, &msg), -ETIMEDOUT);
        took = now_usec(CLOCK_MONOTONIC) - start;
        ASSERT_OK(unsetenv("MKMACHINE_DOWNLOAD_TIMEOUT"));
        printf("# after %.1f s: %s\n", (double) took / USEC_PER_SEC, msg);
        ASSERT_TRUE(took >= 1500 * USEC_PER_MSEC && took < 10 * USEC_PER_SEC);
        ASSERT_TRUE(strstr(msg, "not done within the deadline of 2 s"));
        ASSERT_TRUE(strstr(msg, url));
        ASSERT_EQ(entries(fd), 0U);

        ASSERT_EQ(pthread_join(thread, NULL), 0);
        cleanup(fd);
}

/* An HTTP server on 127.0.0.1 that answers each of *n requests with "hello world\n" (12 bytes). */
typedef struct Serve {
        int listen_fd;
        unsigned n;
} Serve;

static void* hello_server(void *userdata) {
        Serve *s = userdata;
        static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
                "hello world\n";

        for (unsigned i = 0; i < s->n; i++) {
                _cleanup_close_ int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0)
                        return NULL;
                (void) read_request(fd);
                (void) send(fd, reply, strlen(reply), MSG_NOSIGNAL);
        }
        return NULL;
}

TEST(streaming_digest_and_size_checked) {
        static const char good[] = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
        static const char bad[] = "b948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
        _cleanup_close_ int listen_fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        _cleanup_free_ char *msg = NULL, *text = NULL;
        char url[64];
        pthread_t thread;
        Serve serve;
        int fd = setup();

        ASSERT_TRUE(listen_fd >= 0);
        ASSERT_OK(bind(listen_fd, (struct sockaddr*) &sa, sizeof(sa)));
        ASSERT_OK(listen(listen_fd, 4));
        ASSERT_OK(getsockname(listen_fd, (struct sockaddr*) &sa, &l));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/blob", (unsigned) ntohs(sa.sin_port));
        serve = (Serve) { .listen_fd = listen_fd, .n = 3 };
        ASSERT_EQ(pthread_create(&thread, NULL, hello_server, &serve), 0);

        /* The digest checked while the data streams: a wrong one is refused and leaves nothing. */
        DownloadItem item = { .url = url, .dir_fd = fd, .name = "blob", .size = 12, .sha256 = bad };
        ASSERT_EQ(download_many(&item, 1, 1, NULL, NULL, &msg), -EBADMSG);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "does not match its SHA256 digest"));
        ASSERT_EQ(entries(fd), 0U);
        msg = mfree(msg);

        /* The size too. */
        item = (DownloadItem) { .url = url, .dir_fd = fd, .name = "blob", .size = 13, .sha256 = good };
        ASSERT_EQ(download_many(&item, 1, 1, NULL, NULL, &msg), -EBADMSG);
        printf("# %s\n", msg);
        ASSERT_EQ(entries(fd), 0U);
        msg = mfree(msg);

        /* The right digest and size: the file is there, under its name, with what was served. */
        item = (DownloadItem) { .url = url, .dir_fd = fd, .name = "blob", .size = 12, .sha256 = good };
        ASSERT_OK(download_many(&item, 1, 1, NULL, NULL, &msg));
        ASSERT_OK(read_full_file_at(fd, "blob", 1024, &text, NULL));
        ASSERT_STREQ(text, "hello world\n");
        ASSERT_EQ(entries(fd), 1U);

        ASSERT_EQ(pthread_join(thread, NULL), 0);
        cleanup(fd);
}

DEFINE_TEST_MAIN
