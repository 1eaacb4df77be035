/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* _cleanup_(json_object_putp) json_object *j = NULL; drops the reference when j goes out of scope. */
DEFINE_POINTER_CLEANUP_RENAME(json_object*, json_object_put, json_object_putp);
