/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-util.h"
#include "fd-util.h"
#include "tests.h"

TEST(nspawn_unit_name) {
        _cleanup_free_ char *u = nspawn_unit_name("web-1");
        ASSERT_STREQ(u, "systemd-nspawn@web-1.service");
}

TEST(error_mapping) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_EQ(bus_error_to_errno(&e, -ENOENT), -ENOENT);
        ASSERT_STREQ(bus_error_message(&e, -ENOENT), strerror(ENOENT));

        ASSERT_TRUE(sd_bus_error_set(&e, "org.freedesktop.machine1.NoSuchMachine",
                                     "No machine 'x' known") < 0);
        ASSERT_EQ(bus_error_to_errno(&e, -EIO), -ENXIO);
        ASSERT_STREQ(bus_error_message(&e, -EIO), "No machine 'x' known");

        sd_bus_error_free(&e);
        ASSERT_TRUE(sd_bus_error_set(&e, "org.example.Unknown", "strange") < 0);
        ASSERT_EQ(bus_error_to_errno(&e, -EIO), -EIO);
}

TEST(no_systemd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL;

        if (access("/run/systemd/system", F_OK) >= 0)
                test_skip("booted with systemd");

        ASSERT_ERROR(bus_open_system_checked(&bus, &msg), EHOSTDOWN);
        ASSERT_NULL(bus);
        ASSERT_NOT_NULL(msg);
        ASSERT_TRUE(strstr(msg, "/run/systemd/system") != NULL);
}

DEFINE_TEST_MAIN
