/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "error-util.h"
#include "fd-util.h"
#include "log.h"
#include "path-util.h"
#include "random-util.h"
#include "string-util.h"
#include "time-util.h"

#define DEFAULT_MAX_SIZE (UINT64_C(1) << 30)
#define HASH_BUFFER_SIZE (256U * 1024U)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t download_deadline_sec(uint64_t size) {
        const char *e = secure_getenv("MKMACHINE_DOWNLOAD_TIMEOUT");
        unsigned long long v;
        char *end;

        if (e && e[0] >= '0' && e[0] <= '9') {
                errno = 0;
                v = strtoull(e, &end, 10);
                if (errno == 0 && *end == 0 && v > 0)
                        return MIN((uint64_t) v, DOWNLOAD_DEADLINE_MAX_SEC);
        }
        return MIN(DOWNLOAD_DEADLINE_FLOOR_SEC + size / DOWNLOAD_DEADLINE_MIN_RATE,
                   DOWNLOAD_DEADLINE_MAX_SEC);
}

void download_clean_stale(int dir_fd, unsigned max_age_sec) {
        _cleanup_closedir_ DIR *d = NULL;
        time_t now = time(NULL);

        d = opendir_dup(dir_fd);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;

                if (!startswith(de->d_name, ".#") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (now - st.st_mtime > (time_t) max_age_sec)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        }
}

typedef struct Transfer {
        const DownloadItem *item;
        CURL *curl;
        int fd;
        char *temp;
        uint64_t received;
        uint64_t limit;
        EVP_MD_CTX *sha256;
        struct curl_slist *headers;
        uint64_t resumed;               /* bytes of a kept part we asked the server to continue */
        bool checked_status;
        bool discard;
        bool part;                      /* temp is the item's ".NAME.part" */
        bool too_big;
        uint64_t deadline_sec;          /* CURLOPT_TIMEOUT: the whole transfer */
} Transfer;

typedef struct Downloads {
        CURLM *multi;
        Transfer *transfers;
        size_t n;
        uint64_t done_bytes;            /* of finished transfers */
        uint64_t total;
        Progress *progress;
        char *error;
} Downloads;

_printf_(3, 4)
static int fail(Downloads *d, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = error_messagev(&d->error, r, format, ap);
        va_end(ap);
        return r;
}

/* Hashes what a kept part already holds. */
static int hash_existing(Transfer *t, uint64_t size) {
        _cleanup_free_ uint8_t *buf = malloc(HASH_BUFFER_SIZE);
        uint64_t done = 0;

        if (!buf)
                return -ENOMEM;
        while (done < size) {
                ssize_t n = pread(t->fd, buf, (size_t) MIN((uint64_t) HASH_BUFFER_SIZE, size - done),
                                  (off_t) done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                if (EVP_DigestUpdate(t->sha256, buf, (size_t) n) != 1)
                        return -EIO;
                done += (uint64_t) n;
        }
        t->received = size;
        return 0;
}

/* A server that ignores our Range sends everything again (200, not 206): start the part anew. */
static int check_resume_status(Transfer *t) {
        long status = 0;

        t->checked_status = true;
        (void) curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        /* An error page is not part of the file (a kept part must hold nothing else). */
        t->discard = status != 200 && status != 206;
        if (t->resumed == 0 || t->discard || status == 206)
                return 0;
        if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0 ||
            EVP_DigestInit_ex(t->sha256, EVP_sha256(), NULL) != 1)
                return -EIO;
        t->received = 0;
        t->resumed = 0;
        return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        size_t n = size * nmemb;

        if (!t->checked_status && check_resume_status(t) < 0)
                return 0;
        if (t->discard)
                return n;

        if (t->received + n > t->limit) {
                t->too_big = true;
                return 0;       /* aborts the transfer */
        }
        if (loop_write(t->fd, data, n) < 0 || EVP_DigestUpdate(t->sha256, data, n) != 1)
                return 0;
        t->received += n;
        return n;
}

/* ".#NAME.RANDOM": what download_clean_stale() recognizes as a download's temporary. */
static char* temp_name(const char *name) {
        char *s;

        return asprintf(&s, ".#%s.%016" PRIx64, name, random_u64()) < 0 ? NULL : s;
}

static void transfer_done(Transfer *t, bool keep) {
        if (t->curl) {
                curl_easy_cleanup(t->curl);
                t->curl = NULL;
        }
        t->fd = safe_close(t->fd);
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        if (t->temp) {
                if (!keep && !t->part)
                        (void) unlinkat(t->item->dir_fd, t->temp, 0);
                t->temp = mfree(t->temp);
        }
        EVP_MD_CTX_free(t->sha256);
        t->sha256 = NULL;
}

static int transfer_start(Downloads *d, Transfer *t, const DownloadItem *item) {
        *t = (Transfer) {
                .item = item,
                .fd = -EBADF,
                .limit = item->size > 0 ? item->size :
                         item->max_size > 0 ? item->max_size : DEFAULT_MAX_SIZE,
        };

        if (!filename_is_valid(item->name))
                return fail(d, -EINVAL, "Invalid download destination '%s'.", item->name);
        t->sha256 = EVP_MD_CTX_new();
        if (!t->sha256 || EVP_DigestInit_ex(t->sha256, EVP_sha256(), NULL) != 1)
                return -ENOMEM;

        if (item->resume) {
                struct stat st;

                if (asprintf(&t->temp, ".%s.part", item->name) < 0)
                        return -ENOMEM;
                t->fd = openat(item->dir_fd, t->temp, O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW, 0644);
                if (t->fd >= 0 && flock(t->fd, LOCK_EX|LOCK_NB) < 0) {
                        /* Another run is writing it: download under a name of our own. */
                        t->fd = safe_close(t->fd);
                        t->temp = mfree(t->temp);
                } else if (t->fd >= 0) {
                        t->part = true;
                        if (fstat(t->fd, &st) < 0 || !S_ISREG(st.st_mode))
                                return fail(d, -EIO, "Cannot use '%s'.", t->temp);
                        if (item->size > 0 && (uint64_t) st.st_size >= item->size) {
                                /* Complete or too long, but not verified: start over. */
                                if (ftruncate(t->fd, 0) < 0)
                                        return fail(d, -errno, "Failed to truncate '%s'.", t->temp);
                        } else if (st.st_size > 0) {
                                int r = hash_existing(t, (uint64_t) st.st_size);
                                if (r < 0)
                                        return fail(d, r, "Failed to read '%s'.", t->temp);
                                t->resumed = (uint64_t) st.st_size;
                        }
                        if (lseek(t->fd, (off_t) t->received, SEEK_SET) < 0)
                                return -errno;
                } else
                        t->temp = mfree(t->temp);
        }
        if (t->fd < 0) {
                /* Unnamed until complete and verified: a download that is killed leaves nothing. */
                t->fd = openat(item->dir_fd, ".", O_WRONLY|O_TMPFILE|O_CLOEXEC, 0644);
                if (t->fd < 0 && errno != EOPNOTSUPP && errno != EISDIR)
                        return fail(d, -errno, "Failed to create a file in the download directory: %s",
                                    strerror(errno));
        }
        if (t->fd < 0) {
                if (!(t->temp = temp_name(item->name)))
                        return -ENOMEM;
                t->fd = openat(item->dir_fd, t->temp, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, 0644);
                if (t->fd < 0)
                        return fail(d, -errno, "Failed to create '%s': %s", t->temp, strerror(errno));
        }
        for (char * const *h = item->headers; h && *h; h++) {
                struct curl_slist *n = curl_slist_append(t->headers, *h);
                if (!n)
                        return -ENOMEM;
                t->headers = n;
        }

        t->deadline_sec = download_deadline_sec(item->size > 0 ? item->size :
                                                item->max_size > 0 ? item->max_size : DEFAULT_MAX_SIZE);
        t->curl = curl_easy_init();
        if (!t->curl)
                return -ENOMEM;
        if (curl_easy_setopt(t->curl, CURLOPT_URL, item->url) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_PRIVATE, t) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_MAXREDIRS, 5L) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK ||
            /* A stalled server: less than 1 byte/s for 60 s. */
            curl_easy_setopt(t->curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK ||
            /* A trickling one: the whole transfer within a deadline. */
            curl_easy_setopt(t->curl, CURLOPT_TIMEOUT, (long) t->deadline_sec) != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_USERAGENT, "mkmachine") != CURLE_OK ||
            curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            (t->headers && curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK) ||
            (t->resumed > 0 &&
             curl_easy_setopt(t->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t) t->resumed) != CURLE_OK) ||
            (item->ca_file && curl_easy_setopt(t->curl, CURLOPT_CAINFO, item->ca_file) != CURLE_OK) ||
            (item->tls_no_verify &&
             (curl_easy_setopt(t->curl, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
              curl_easy_setopt(t->curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK)))
                return fail(d, -EIO, "Failed to set up the download of %s.", item->url);

        if (curl_multi_add_handle(d->multi, t->curl) != CURLM_OK)
                return fail(d, -EIO, "Failed to start the download of %s.", item->url);
        return 0;
}

bool curl_code_is_transient(CURLcode code) {
        switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

/* Checks a finished transfer and moves it into place. */
static int transfer_finish(Downloads *d, Transfer *t, CURLcode code) {
        const DownloadItem *item = t->item;
        long status = 0;
        uint8_t md[32];
        char h[65];

        (void) curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        if (item->ret_transient)
                *item->ret_transient = !t->too_big &&
                        (status == 429 || status >= 500 || curl_code_is_transient(code));
        if (t->too_big) {
                t->part = false;
                return fail(d, -EBADMSG, "%s is larger than the %" PRIu64 " bytes expected.", item->url,
                            t->limit);
        }
        if (code == CURLE_OPERATION_TIMEDOUT) {
                curl_off_t elapsed = 0;

                (void) curl_easy_getinfo(t->curl, CURLINFO_TOTAL_TIME_T, &elapsed);
                if ((uint64_t) elapsed + USEC_PER_SEC / 2 >= t->deadline_sec * USEC_PER_SEC)
                        return fail(d, -ETIMEDOUT, "Failed to download %s: not done within the deadline of "
                                    "%" PRIu64 " s (%" PRIu64 " bytes received; MKMACHINE_DOWNLOAD_TIMEOUT= "
                                    "sets it).", item->url, t->deadline_sec, t->received);
        }
        if (code != CURLE_OK)
                return fail(d, -EIO, "Failed to download %s: %s", item->url, curl_easy_strerror(code));
        if (status != 200 && !(status == 206 && t->resumed > 0))
                return fail(d, -EIO, "Failed to download %s: HTTP status %li.", item->url, status);
        if (item->size > 0 && t->received != item->size) {
                t->part = false;
                return fail(d, -EBADMSG, "%s has %" PRIu64 " bytes, expected %" PRIu64 ".", item->url,
                            t->received,
                            item->size);
        }
        if (EVP_DigestFinal_ex(t->sha256, md, NULL) != 1)
                return -EIO;
        digest_to_hex(md, sizeof(md), h);
        if (item->sha256 && strcasecmp(h, item->sha256) != 0) {
                t->part = false;        /* no use continuing that one */
                return fail(d, -EBADMSG, "%s does not match its SHA256 digest (got %s, expected %s).",
                            item->url, h,
                            item->sha256);
        }

        if (!t->temp) {
                /* Named (under a name of its own, then renamed: it replaces a damaged copy) only now. */
                char proc[32];

                if (!(t->temp = temp_name(item->name)))
                        return -ENOMEM;
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", t->fd);
                if (linkat(AT_FDCWD, proc, item->dir_fd, t->temp, AT_SYMLINK_FOLLOW) < 0) {
                        t->temp = mfree(t->temp);
                        return fail(d, -errno, "Failed to move %s into place: %s", item->name,
                                    strerror(errno));
                }
        }
        if (renameat(item->dir_fd, t->temp, item->dir_fd, item->name) < 0)
                return fail(d, -errno, "Failed to move %s into place: %s", item->name, strerror(errno));
        t->temp = mfree(t->temp);
        d->done_bytes += t->received;
        if (item->done)
                item->done(item, item->userdata);
        return 0;
}

static uint64_t bytes_in_flight(Downloads *d) {
        uint64_t b = 0;

        for (size_t i = 0; i < d->n; i++)
                if (d->transfers[i].curl)
                        b += d->transfers[i].received;
        return b;
}

int download_many(const DownloadItem *items, size_t n, unsigned max_parallel, Progress *progress,
                  uint64_t *ret_bytes, char **reterr_message) {
        Downloads d = { .progress = progress };
        size_t next = 0, running = 0;
        int r = 0;

        assert(items || n == 0);

        if (n == 0) {
                if (ret_bytes)
                        *ret_bytes = 0;
                return 0;
        }

        (void) pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return -EIO;

        max_parallel = MAX(max_parallel, 1U);
        d.multi = curl_multi_init();
        d.transfers = calloc(n, sizeof(Transfer));
        if (!d.multi || !d.transfers) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                d.transfers[i].fd = -EBADF;
                d.total += items[i].size;
        }
        (void) curl_multi_setopt(d.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) max_parallel);
        (void) curl_multi_setopt(d.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) max_parallel);
        d.n = n;

        if (progress)
                progress_begin(progress, "Downloading", d.total);

        for (;;) {
                int still = 0, queued;
                CURLMsg *msg;

                while (next < n && running < max_parallel) {
                        r = transfer_start(&d, d.transfers + next, items + next);
                        if (r < 0)
                                goto finish;
                        next++;
                        running++;
                }

                if (curl_multi_perform(d.multi, &still) != CURLM_OK) {
                        r = fail(&d, -EIO, "Download failed.");
                        goto finish;
                }

                while ((msg = curl_multi_info_read(d.multi, &queued))) {
                        Transfer *t = NULL;

                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char**) &t);
                        (void) curl_multi_remove_handle(d.multi, msg->easy_handle);
                        r = transfer_finish(&d, t, msg->data.result);
                        transfer_done(t, r >= 0);
                        running--;
                        if (r < 0)
                                goto finish;
                }

                if (progress)
                        progress_update(progress, d.done_bytes + bytes_in_flight(&d));

                if (running == 0 && next >= n)
                        break;

                if (curl_multi_poll(d.multi, NULL, 0, 1000, NULL) != CURLM_OK) {
                        r = fail(&d, -EIO, "Download failed.");
                        goto finish;
                }
        }
        r = 0;

finish:
        if (progress)
                progress_end(progress);
        for (size_t i = 0; d.transfers && i < n; i++) {
                if (d.transfers[i].curl)
                        (void) curl_multi_remove_handle(d.multi, d.transfers[i].curl);
                transfer_done(d.transfers + i, false);
        }
        free(d.transfers);
        if (d.multi)
                curl_multi_cleanup(d.multi);

        if (r < 0) {
                if (reterr_message)
                        *reterr_message = TAKE_PTR(d.error);
                free(d.error);
                return r;
        }
        free(d.error);
        if (ret_bytes)
                *ret_bytes = d.done_bytes;
        return 0;
}
