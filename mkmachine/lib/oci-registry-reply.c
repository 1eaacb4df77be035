/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "oci-registry-reply.h"
#include "string-util.h"

int registry_token_reply_parse(const char *body, char **ret) {
        _cleanup_free_ char *token = NULL;
        json_object *j, *t;
        bool found = false;

        assert(ret);

        j = json_tokener_parse(body ?: "");
        if (j && (json_object_object_get_ex(j, "token", &t) ||
                  json_object_object_get_ex(j, "access_token", &t)) &&
            json_object_is_type(t, json_type_string) && !isempty(json_object_get_string(t)) &&
            !strpbrk(json_object_get_string(t), "\r\n")) {
                found = true;
                token = strdup(json_object_get_string(t));
        }
        json_object_put(j);
        if (!found)
                return -EBADMSG;
        if (!token)
                return -ENOMEM;
        *ret = TAKE_PTR(token);
        return 0;
}

OciMediaType registry_manifest_media_type(const char *content_type, const char *body) {
        _cleanup_free_ char *ct = NULL;
        OciMediaType t = _OCI_MEDIA_TYPE_INVALID;
        json_object *j, *m;

        if (content_type) {
                ct = strndup(content_type, strcspn(content_type, "; "));
                if (ct)
                        t = oci_media_type_from_string(ct);
        }
        if (oci_media_type_is_index(t) || oci_media_type_is_manifest(t))
                return t;

        j = json_tokener_parse(body ?: "");
        if (j && json_object_object_get_ex(j, "mediaType", &m) && json_object_is_type(m, json_type_string))
                t = oci_media_type_from_string(json_object_get_string(m));
        else if (j && json_object_object_get_ex(j, "manifests", &m))
                t = OCI_MEDIA_INDEX;
        else if (j)
                t = OCI_MEDIA_MANIFEST;
        json_object_put(j);
        return t;
}
