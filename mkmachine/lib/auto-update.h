/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* The pure parts of "mkmachine auto-update": the update policy a machine carries in its origin record
 * (like Podman's io.containers.autoupdate label) and the decision what to do with a machine. Nothing
 * here does I/O or logs above debug level. */

typedef enum AutoUpdatePolicy {
        AUTO_UPDATE_NO,         /* never updated (the default) */
        AUTO_UPDATE_REGISTRY,   /* a new manifest behind the pulled tag in the registry */
        AUTO_UPDATE_LOCAL,      /* a new image in the local source import-oci read */
        AUTO_UPDATE_PACKAGES,   /* pending package upgrades (apt) of a bootstrapped machine */
        _AUTO_UPDATE_POLICY_MAX,
        _AUTO_UPDATE_POLICY_INVALID = -EINVAL,
} AutoUpdatePolicy;

const char* auto_update_policy_to_string(AutoUpdatePolicy p) _pure_;
AutoUpdatePolicy auto_update_policy_from_string(const char *s) _pure_;

/* The origin record's "auto_update" and "health_cmd" fields ("origin" is its JSON text, may be NULL).
 * A record without a policy (or none at all) is AUTO_UPDATE_NO; -EBADMSG for a record origin_parse()
 * refuses (an unknown policy among them). *ret_health_cmd (may be NULL) gets a copy of the health
 * command, or NULL. */
int auto_update_from_origin(const char *origin, AutoUpdatePolicy *ret_policy, char **ret_health_cmd);

/* Whether the policy fits a machine whose origin record has "type" origin_type: registry needs a pulled
 * machine ("registry"), local one imported with import-oci ("oci"), packages one bootstrapped from a
 * recipe ("bootstrap": an image's packages are its publisher's to update); no fits any. -EINVAL (with a
 * sentence in *reterr_message) if not. */
int auto_update_policy_check(AutoUpdatePolicy p, const char *origin_type, char **reterr_message);

/* The origin record with the policy (p >= 0) and/or health command (health_cmd non-NULL; "" removes it)
 * set, as origin_set_update_policy() does on a MachineOrigin. -EBADMSG for a record origin_parse()
 * refuses. */
int auto_update_origin_set(const char *origin, AutoUpdatePolicy p, const char *health_cmd, char **ret);

typedef enum AutoUpdateAction {
        AUTO_UPDATE_SKIP,       /* no policy */
        AUTO_UPDATE_PINNED,     /* the reference is a digest: it cannot change */
        AUTO_UPDATE_CURRENT,    /* the recorded digest is the source's */
        AUTO_UPDATE_PENDING,    /* the source has a new image: update */
        _AUTO_UPDATE_ACTION_MAX,
        _AUTO_UPDATE_ACTION_INVALID = -EINVAL,
} AutoUpdateAction;

const char* auto_update_action_to_string(AutoUpdateAction a) _pure_;
AutoUpdateAction auto_update_action_from_string(const char *s) _pure_;

/* What to do with a machine of policy p, pulled by a reference that names a digest (pinned) or not,
 * whose origin records the manifest digest recorded (may be NULL: unknown, as for a docker-archive)
 * when the source now has current (NULL: not asked, as for AUTO_UPDATE_NO or a pinned reference). */
AutoUpdateAction auto_update_decide(AutoUpdatePolicy p, bool pinned, const char *recorded,
                                    const char *current);

/* What to do with a machine of policy packages whose apt reports n_pending upgrades: pending or
 * up-to-date. (auto_update_decide() says skipped for policy packages: it has no digests to compare.) */
AutoUpdateAction auto_update_decide_packages(size_t n_pending) _pure_;
