/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "oci-image.h"

/* What oci-registry.c reads out of a registry's replies, as pure functions on the text received, so that
 * they can be fuzzed and tested without a registry. The bodies are NUL-terminated (the transfer adds the
 * NUL); a NUL within one ends it, as it does for json-c. */

/* The token of a token server's reply (the Docker token authentication spec): a JSON object's "token",
 * else its "access_token" (as "token" is looked at first, a "token" that is not a string is not made up
 * for by an "access_token"). -EBADMSG if the body is not such an object or the token is missing, not a
 * string, empty or holds a line break (it goes into a header line); -ENOMEM. */
int registry_token_reply_parse(const char *body, char **ret);

/* The media type of a manifest fetched by tag. content_type is the Content-Type header's value (NULL if
 * there was none); its parameters (after ';' or ' ') are not looked at. It wins if it names an index or
 * a manifest. Otherwise it is the body's: its "mediaType" string, else an OCI index if it has
 * "manifests", else an OCI manifest if the body is JSON at all (schema 2 without mediaType); if it is
 * not JSON, what the Content-Type said (possibly _OCI_MEDIA_TYPE_INVALID). Callers refuse anything but
 * an index or a manifest. */
OciMediaType registry_manifest_media_type(const char *content_type, const char *body);
