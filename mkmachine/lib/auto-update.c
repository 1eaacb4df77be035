/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auto-update.h"
#include "origin.h"
#include "string-table.h"
#include "string-util.h"

static const char* const auto_update_policy_table[_AUTO_UPDATE_POLICY_MAX] = {
        [AUTO_UPDATE_NO]       = "no",
        [AUTO_UPDATE_REGISTRY] = "registry",
        [AUTO_UPDATE_LOCAL]    = "local",
        [AUTO_UPDATE_PACKAGES] = "packages",
};

DEFINE_STRING_TABLE_LOOKUP(auto_update_policy, AutoUpdatePolicy);

static const char* const auto_update_action_table[_AUTO_UPDATE_ACTION_MAX] = {
        [AUTO_UPDATE_SKIP]    = "skipped",
        [AUTO_UPDATE_PINNED]  = "pinned",
        [AUTO_UPDATE_CURRENT] = "up-to-date",
        [AUTO_UPDATE_PENDING] = "pending",
};

DEFINE_STRING_TABLE_LOOKUP(auto_update_action, AutoUpdateAction);

int auto_update_from_origin(const char *origin, AutoUpdatePolicy *ret_policy, char **ret_health_cmd) {
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        _cleanup_free_ char *cmd = NULL;
        int r;

        assert(ret_policy);

        if (origin) {
                r = origin_parse(origin, strlen(origin), &o, NULL);
                if (r < 0)
                        return r == -ENOMEM ? r : -EBADMSG;
                if (ret_health_cmd && origin_health_cmd(o)) {
                        cmd = strdup(origin_health_cmd(o));
                        if (!cmd)
                                return -ENOMEM;
                }
        }

        *ret_policy = origin_auto_update(o);
        if (ret_health_cmd)
                *ret_health_cmd = TAKE_PTR(cmd);
        return 0;
}

int auto_update_policy_check(AutoUpdatePolicy p, const char *origin_type, char **reterr_message) {
        const char *need;
        int r;

        switch (p) {
        case AUTO_UPDATE_NO:
                return 0;
        case AUTO_UPDATE_REGISTRY:
                need = "registry";
                break;
        case AUTO_UPDATE_LOCAL:
                need = "oci";
                break;
        case AUTO_UPDATE_PACKAGES:
                need = "bootstrap";
                break;
        default:
                return -EINVAL;
        }
        if (streq_ptr(origin_type, need))
                return 0;
        if (!reterr_message)
                return -EINVAL;
        if (p == AUTO_UPDATE_PACKAGES &&
            (streq_ptr(origin_type, "registry") || streq_ptr(origin_type, "oci")))
                r = asprintf(reterr_message, "--auto-update=packages needs a machine bootstrapped from a "
                             "recipe, not one from an OCI image ('%s'): its packages are the image's; "
                             "use --auto-update=%s.", origin_type,
                             streq(origin_type, "registry") ? "registry" : "local");
        else if (p != AUTO_UPDATE_PACKAGES && streq_ptr(origin_type, "bootstrap"))
                r = asprintf(reterr_message, "--auto-update=%s needs a machine %s, not one bootstrapped "
                             "from a recipe: it has no image to follow; use --auto-update=packages.",
                             auto_update_policy_to_string(p),
                             p == AUTO_UPDATE_REGISTRY ? "made by 'mkmachine pull'" :
                             "made by 'mkmachine import-oci'");
        else
                r = asprintf(reterr_message, "--auto-update=%s needs a machine %s, not one from %s.",
                             auto_update_policy_to_string(p),
                             p == AUTO_UPDATE_REGISTRY ? "made by 'mkmachine pull'" :
                             p == AUTO_UPDATE_LOCAL ? "made by 'mkmachine import-oci'" :
                             "bootstrapped from a recipe",
                             origin_type ? strjoina("'", origin_type, "'") : "an unknown source");
        if (r < 0)
                *reterr_message = NULL;
        return -EINVAL;
}

int auto_update_origin_set(const char *origin, AutoUpdatePolicy p, const char *health_cmd, char **ret) {
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        int r;

        assert(ret);

        if (origin) {
                r = origin_parse(origin, strlen(origin), &o, NULL);
                if (r < 0)
                        return r == -ENOMEM ? r : -EBADMSG;
        } else {
                o = origin_new();
                if (!o)
                        return -ENOMEM;
        }
        r = origin_set_update_policy(o, p, health_cmd);
        if (r < 0)
                return r;
        return origin_format(o, ret);
}

AutoUpdateAction auto_update_decide(AutoUpdatePolicy p, bool pinned, const char *recorded,
                                    const char *current) {
        if (p <= AUTO_UPDATE_NO || p >= _AUTO_UPDATE_POLICY_MAX || p == AUTO_UPDATE_PACKAGES)
                return AUTO_UPDATE_SKIP;
        if (pinned)
                return AUTO_UPDATE_PINNED;
        if (!current)
                return AUTO_UPDATE_SKIP;
        /* An unknown recorded digest: the image cannot be proven current, so it is updated once, after
         * which its digest is known. */
        if (recorded && streq(recorded, current))
                return AUTO_UPDATE_CURRENT;
        return AUTO_UPDATE_PENDING;
}

AutoUpdateAction auto_update_decide_packages(size_t n_pending) {
        return n_pending > 0 ? AUTO_UPDATE_PENDING : AUTO_UPDATE_CURRENT;
}
