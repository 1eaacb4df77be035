/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "store.h"
#include "tests.h"

TEST(machine_name_is_valid) {
        ASSERT_TRUE(machine_name_is_valid("jammy"));
        ASSERT_TRUE(machine_name_is_valid("web-1"));
        ASSERT_TRUE(machine_name_is_valid("a.b.c"));
        ASSERT_TRUE(machine_name_is_valid("0"));
        ASSERT_TRUE(machine_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */

        ASSERT_FALSE(machine_name_is_valid(NULL));
        ASSERT_FALSE(machine_name_is_valid(""));
        ASSERT_FALSE(machine_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
        ASSERT_FALSE(machine_name_is_valid(".hidden"));
        ASSERT_FALSE(machine_name_is_valid(".#temp"));
        ASSERT_FALSE(machine_name_is_valid("a..b"));
        ASSERT_FALSE(machine_name_is_valid("trailing."));
        ASSERT_FALSE(machine_name_is_valid("-option"));
        ASSERT_FALSE(machine_name_is_valid("a/b"));
        ASSERT_FALSE(machine_name_is_valid(".."));
        ASSERT_FALSE(machine_name_is_valid("under_score"));
        ASSERT_FALSE(machine_name_is_valid("spa ce"));
        ASSERT_FALSE(machine_name_is_valid("new\nline"));
        ASSERT_FALSE(machine_name_is_valid("ünï"));
}

static char root[64];

TEST(store_created_private) {
        _cleanup_close_ int tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        char dir[64];
        Store s = { .root_fd = -EBADF };
        struct stat st;
        mode_t old;

        strcpy(dir, "/tmp/test-store-mode.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        /* Even with a permissive umask: the store, not its parents, is 0700. */
        old = umask(0);
        ASSERT_OK(store_open(strjoina(dir, "/a/machines"), true, &s));
        (void) umask(old);
        ASSERT_OK(fstat(s.root_fd, &st));
        ASSERT_EQ(st.st_mode & 07777, 0700U);
        ASSERT_OK(stat(strjoina(dir, "/a"), &st));
        ASSERT_EQ(st.st_mode & 07777, 0755U);
        store_close(&s);

        /* An existing one is left as it is (doctor reports a looser one). */
        ASSERT_OK(chmod(strjoina(dir, "/a/machines"), 0755));
        ASSERT_OK(store_open(strjoina(dir, "/a/machines"), true, &s));
        ASSERT_OK(fstat(s.root_fd, &st));
        ASSERT_EQ(st.st_mode & 07777, 0755U);
        store_close(&s);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

static void store_new(Store *s) {
        strcpy(root, "/tmp/test-store.XXXXXX");
        ASSERT_TRUE(mkdtemp(root));
        ASSERT_OK(store_open(root, false, s));
}

static void store_free(Store *s) {
        _cleanup_close_ int fd = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);

        store_close(s);
        ASSERT_OK(rm_rf_at(fd, root + 5));
}

/* Names in the store, hidden ones included, as "a b c" (sorted by readdir order is not stable: count). */
static size_t store_entries(Store *s, bool hidden) {
        DIR *d = opendir(s->root);
        size_t n = 0;

        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (!hidden && de->d_name[0] == '.')
                        continue;
                n++;
        }
        closedir(d);
        return n;
}

static int fill_ok(int tree_fd, void *userdata) {
        const char *content = userdata;

        ASSERT_OK(write_file_atomic_at(tree_fd, "content", content, strlen(content), 0644));
        ASSERT_OK(fsetxattr(tree_fd, ORIGIN_XATTR, "{\"source\":\"test\"}", 17, 0));
        return 0;
}

static int fill_fail(int tree_fd, void *userdata) {
        ASSERT_OK(write_file_atomic_at(tree_fd, "partial", "x", 1, 0644));
        return -EBADMSG;
}

static int fill_crash(int tree_fd, void *userdata) {
        ASSERT_OK(write_file_atomic_at(tree_fd, "partial", "x", 1, 0644));
        raise(SIGKILL);
        return 0;
}

static int fill_interrupted(int tree_fd, void *userdata) {
        ASSERT_OK(write_file_atomic_at(tree_fd, "partial", "x", 1, 0644));
        /* As a ^C would: the parent waits for it and kills us. */
        ASSERT_OK(RET_NERRNO(kill(getppid(), SIGTERM)));
        for (;;)
                (void) pause();
}

static char* read_content(Store *s, const char *name) {
        char *buf = NULL;

        ASSERT_OK(read_full_file_at(s->root_fd, strjoina(name, "/content"), 64, &buf, NULL));
        return buf;
}

TEST(install_failures_leave_nothing) {
        Store s;

        store_new(&s);
        ASSERT_EQ(store_install(&s, "bad/name", 0, fill_ok, (void*) "x", NULL), -EINVAL);
        ASSERT_EQ(store_install(&s, ".hidden", 0, fill_ok, (void*) "x", NULL), -EINVAL);
        int fill_error = 0;
        ASSERT_EQ(store_install(&s, "m", 0, fill_fail, NULL, &fill_error), -ECANCELED);
        ASSERT_EQ(fill_error, -EBADMSG);
        ASSERT_EQ(store_install(&s, "m", 0, fill_crash, NULL, NULL), -ECHILD);
        ASSERT_EQ(store_entries(&s, true), 0U);
        store_free(&s);
}

TEST(install_interrupted_signal) {
        Store s;

        store_new(&s);
        ASSERT_EQ(store_interrupted_signal(), 0);
        ASSERT_EQ(store_install(&s, "m", 0, fill_interrupted, NULL, NULL), -EINTR);
        ASSERT_EQ(store_interrupted_signal(), SIGTERM);
        ASSERT_EQ(store_entries(&s, true), 0U);
        /* The next install answers for itself: no signal left over from the last one. */
        ASSERT_OK(store_install(&s, "m", 0, fill_ok, (void*) "x", NULL));
        ASSERT_EQ(store_interrupted_signal(), 0);
        ASSERT_EQ(store_install(&s, "bad/name", 0, fill_ok, (void*) "x", NULL), -EINVAL);
        ASSERT_EQ(store_interrupted_signal(), 0);
        store_free(&s);
}

TEST(install_force_replace_lock) {
        _cleanup_free_ char *c = NULL;
        ImageLock lock;
        struct stat st;
        Store s;

        store_new(&s);
        ASSERT_OK(store_install(&s, "m", 0, fill_ok, (void*) "one", NULL));
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "one");

        /* Exists: refused without --force, unchanged. */
        ASSERT_EQ(store_install(&s, "m", 0, fill_ok, (void*) "two", NULL), -EEXIST);
        free(c);
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "one");

        /* A failed replacement keeps the old machine. */
        ASSERT_EQ(store_install(&s, "m", STORE_INSTALL_FORCE, fill_fail, NULL, NULL), -ECANCELED);
        free(c);
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "one");

        ASSERT_OK(store_install(&s, "m", STORE_INSTALL_FORCE, fill_ok, (void*) "two", NULL));
        free(c);
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "two");
        ASSERT_EQ(store_entries(&s, true), 1U);     /* no temporaries, no lock files left */

        /* Someone (systemd-nspawn, machined) holds the image lock: refused, unchanged. */
        ASSERT_OK(image_lock(&s, "m", LOCK_EX|LOCK_NB, &lock));
        ASSERT_OK(fstatat(AT_FDCWD, strjoina(s.root, "/.#m.lck"), &st, 0));
        ASSERT_EQ(store_install(&s, "m", STORE_INSTALL_FORCE, fill_ok, (void*) "three", NULL), -EBUSY);
        ASSERT_EQ(store_remove(&s, "m"), -EBUSY);
        ASSERT_EQ(store_rename(&s, "m", "n"), -EBUSY);
        image_lock_release(&lock);
        free(c);
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "two");
        store_free(&s);
}

TEST(stale_temporaries) {
        _cleanup_close_ int held = -EBADF;
        MachineInfo *l = NULL;
        size_t n;
        Store s;

        store_new(&s);
        /* One left by a killed run, one a live run holds, one of importd's (not ours to touch). */
        ASSERT_OK(mkdirat(s.root_fd, ".#m.mkmachine-0123456789abcdef", 0755));
        ASSERT_OK(mkdirat(s.root_fd, ".#m.mkmachine-0123456789abcdef/usr", 0755));
        ASSERT_OK(mkdirat(s.root_fd, ".#n.mkmachine-fedcba9876543210", 0755));
        held = openat(s.root_fd, ".#n.mkmachine-fedcba9876543210", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(held >= 0);
        ASSERT_OK(flock(held, LOCK_EX));
        ASSERT_OK(mkdirat(s.root_fd, ".#importd1234", 0755));

        /* Never mistaken for machines. */
        ASSERT_OK(store_list(&s, false, &l, &n));
        ASSERT_EQ(n, 0U);
        free(l);

        ASSERT_OK(store_install(&s, "m", 0, fill_ok, (void*) "one", NULL));
        ASSERT_TRUE(faccessat(s.root_fd, ".#m.mkmachine-0123456789abcdef", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
        ASSERT_OK(faccessat(s.root_fd, ".#n.mkmachine-fedcba9876543210", F_OK, AT_SYMLINK_NOFOLLOW));
        ASSERT_OK(faccessat(s.root_fd, ".#importd1234", F_OK, AT_SYMLINK_NOFOLLOW));
        store_free(&s);
}

TEST(remove_rename_clone_list) {
        _cleanup_free_ char *c = NULL;
        MachineInfo *l = NULL, i = {};
        size_t n;
        Store s;

        store_new(&s);
        ASSERT_OK(store_install(&s, "a", 0, fill_ok, (void*) "alpha", NULL));
        ASSERT_OK(store_install(&s, "b", 0, fill_ok, (void*) "beta", NULL));

        ASSERT_EQ(store_rename(&s, "a", "b"), -EEXIST);
        ASSERT_EQ(store_rename(&s, "missing", "c"), -ENOENT);
        ASSERT_EQ(store_rename(&s, "a", "bad name"), -EINVAL);
        ASSERT_OK(store_rename(&s, "a", "c"));
        c = read_content(&s, "c");
        ASSERT_STREQ(c, "alpha");

        /* The origin moved along. */
        ASSERT_OK(store_get(&s, "c", true, &i));
        ASSERT_STREQ(i.origin, "{\"source\":\"test\"}");
        ASSERT_TRUE(i.usage > 0);
        ASSERT_FALSE(i.in_use);
        machine_info_done(&i);

        ASSERT_EQ(store_clone(&s, "c", "b", 0), -EEXIST);
        ASSERT_EQ(store_clone(&s, "nope", "d", 0), -ENOENT);
        ASSERT_OK(store_clone(&s, "c", "d", 0));
        free(c);
        c = read_content(&s, "d");
        ASSERT_STREQ(c, "alpha");
        ASSERT_OK(store_get(&s, "d", false, &i));
        ASSERT_TRUE(strstr(i.origin, "\"source\":\"test\""));
        ASSERT_TRUE(strstr(i.origin, "\"cloned_from\":\"c\""));
        machine_info_done(&i);

        ASSERT_OK(store_list(&s, true, &l, &n));
        ASSERT_EQ(n, 3U);
        ASSERT_STREQ(l[0].name, "b");
        ASSERT_STREQ(l[1].name, "c");
        ASSERT_STREQ(l[2].name, "d");
        for (size_t k = 0; k < n; k++)
                machine_info_done(l + k);
        free(l);

        ASSERT_EQ(store_remove(&s, "missing"), -ENOENT);
        ASSERT_OK(store_remove(&s, "c"));
        ASSERT_EQ(store_get(&s, "c", false, &i), -ENOENT);
        ASSERT_EQ(store_entries(&s, true), 2U);
        store_free(&s);
}

TEST(update_swap_roll_back_previous) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_free_ char *tmp = NULL, *c = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        MachineInfo *list = NULL;
        size_t n = 0;
        int err = 0;

        store_new(&s);
        ASSERT_ERROR(store_prepare(&s, "m", fill_ok, (void*) "new", &tmp, &tmp_fd, NULL), ENOENT);
        ASSERT_OK(store_install(&s, "m", 0, fill_ok, (void*) "old", NULL));
        ASSERT_EQ(store_has_previous(&s, "m"), 0);
        ASSERT_ERROR(store_roll_back(&s, "m"), ENOENT);

        /* A failing fill leaves nothing and does not touch the machine. */
        ASSERT_ERROR(store_prepare(&s, "m", fill_fail, NULL, &tmp, &tmp_fd, &err), ECANCELED);
        ASSERT_EQ(err, -EBADMSG);
        ASSERT_EQ(store_entries(&s, true), 1U);        /* m only */

        ASSERT_OK(store_prepare(&s, "m", fill_ok, (void*) "new", &tmp, &tmp_fd, NULL));
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "old");
        c = mfree(c);
        /* The prepared tree survives a cleanup of temporaries while it is held. */
        ASSERT_OK(store_clean_temporaries(&s));
        ASSERT_OK(store_swap_in(&s, "m", tmp));
        tmp_fd = safe_close(tmp_fd);
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "new");
        c = mfree(c);
        ASSERT_EQ(store_has_previous(&s, "m"), 1);
        c = read_content(&s, ".#m" STORE_PREVIOUS_SUFFIX);
        ASSERT_STREQ(c, "old");
        c = mfree(c);

        /* Neither listed nor removed as a stale temporary. */
        ASSERT_OK(store_clean_temporaries(&s));
        ASSERT_EQ(store_has_previous(&s, "m"), 1);
        ASSERT_OK(store_list(&s, false, &list, &n));
        ASSERT_EQ(n, 1U);
        ASSERT_STREQ(list[0].name, "m");
        machine_info_done(list);
        free(list);

        /* Rolling back: the old tree is NAME again, the failed one is gone. */
        ASSERT_OK(store_roll_back(&s, "m"));
        c = read_content(&s, "m");
        ASSERT_STREQ(c, "old");
        c = mfree(c);
        ASSERT_EQ(store_has_previous(&s, "m"), 0);

        /* rename moves the previous tree along; remove removes it. */
        tmp = mfree(tmp);
        ASSERT_OK(store_prepare(&s, "m", fill_ok, (void*) "newer", &tmp, &tmp_fd, NULL));
        ASSERT_OK(store_swap_in(&s, "m", tmp));
        tmp_fd = safe_close(tmp_fd);
        ASSERT_OK(store_rename(&s, "m", "n"));
        ASSERT_EQ(store_has_previous(&s, "m"), 0);
        ASSERT_EQ(store_has_previous(&s, "n"), 1);
        ASSERT_OK(store_remove(&s, "n"));
        ASSERT_EQ(store_has_previous(&s, "n"), 0);
        ASSERT_EQ(store_entries(&s, false), 0U);
        store_free(&s);
}

DEFINE_TEST_MAIN
