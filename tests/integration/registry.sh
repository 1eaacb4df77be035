#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests: a local Docker registry (docker-registry, the distribution project's) over plain
# HTTP, for pull, push and auto-update tests.
#   registry_start DIR PORT [USER PASSWORD]  starts one storing in DIR on ADDR:PORT (REGISTRY_ADDR,
#                                           default 127.0.0.1), with htpasswd Basic auth if USER is
#                                           given; waits until /v2/ answers. Sets REGISTRY_PID.
#   registry_stop                           stops the one started last.
#   registry_auth_json FILE HOST USER PASSWORD  writes an auth.json for HOST.

registry_start() {
    local dir=$1 port=$2 user=${3:-} password=${4:-} addr=${REGISTRY_ADDR:-127.0.0.1}
    mkdir -p "$dir/data"
    {
        echo "version: 0.1"
        echo "log:"
        echo "  level: error"
        echo "storage:"
        echo "  filesystem:"
        echo "    rootdirectory: $dir/data"
        echo "  delete:"
        echo "    enabled: true"
        echo "http:"
        echo "  addr: $addr:$port"
        if [ -n "$user" ]; then
            htpasswd -bBc "$dir/htpasswd" "$user" "$password" >/dev/null 2>&1
            echo "auth:"
            echo "  htpasswd:"
            echo "    realm: test"
            echo "    path: $dir/htpasswd"
        fi
    } >"$dir/config.yml"
    # It reads REGISTRY_* variables as configuration: REGISTRY_AUTH_FILE (our auth.json) would break it.
    env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 100); do
        if curl -s -o /dev/null -w '%{http_code}' "http://$addr:$port/v2/" 2>/dev/null | grep -qE '200|401'; then
            return 0
        fi
        sleep 0.1
    done
    echo "# the registry did not start:" && sed 's/^/# /' "$dir/log"
    return 1
}

registry_stop() {
    if [ -n "${REGISTRY_PID:-}" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=
    fi
}

registry_auth_json() {
    local file=$1 host=$2 user=$3 password=$4
    printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$host" "$(printf '%s:%s' "$user" "$password" | base64 -w0)" \
        >"$file"
}
