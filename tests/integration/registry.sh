#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests: a local Docker registry (docker-registry, the distribution project's), for pull,
# push and auto-update tests.
#   registry_start [OPTION…] DIR PORT [USER PASSWORD]
#                         starts one with its config and log ("DIR/log", with the access log) in DIR
#                         on ADDR:PORT (REGISTRY_ADDR, default 127.0.0.1), with htpasswd Basic auth if
#                         USER is given; waits until /v2/ answers. Sets REGISTRY_PID. Options:
#       --storage SDIR    store in SDIR (default DIR/data): several registries can serve one storage;
#       --tls CERT KEY    HTTPS with this certificate, instead of plain HTTP;
#       --token REALM SERVICE ISSUER CERTBUNDLE
#                         the Bearer token flow: tokens from REALM, signed by a key of CERTBUNDLE.
#   registry_stop                           stops the one started last.
#   registry_auth_json FILE HOST USER PASSWORD  writes an auth.json for HOST.

registry_start() {
    local storage='' cert='' key='' realm='' service='' issuer='' bundle='' scheme=http
    while [ $# -gt 0 ]; do
        case $1 in
            --storage) storage=$2; shift 2 ;;
            --tls) cert=$2 key=$3 scheme=https; shift 3 ;;
            --token) realm=$2 service=$3 issuer=$4 bundle=$5; shift 5 ;;
            *) break ;;
        esac
    done
    local dir=$1 port=$2 user=${3:-} password=${4:-} addr=${REGISTRY_ADDR:-127.0.0.1}
    storage=${storage:-$dir/data}
    mkdir -p "$dir" "$storage"
    {
        echo "version: 0.1"
        echo "log:"
        echo "  level: error"
        echo "storage:"
        echo "  filesystem:"
        echo "    rootdirectory: $storage"
        echo "  delete:"
        echo "    enabled: true"
        echo "http:"
        echo "  addr: $addr:$port"
        if [ -n "$cert" ]; then
            echo "  tls:"
            echo "    certificate: $cert"
            echo "    key: $key"
        fi
        if [ -n "$user" ]; then
            htpasswd -bBc "$dir/htpasswd" "$user" "$password" >/dev/null 2>&1
            echo "auth:"
            echo "  htpasswd:"
            echo "    realm: test"
            echo "    path: $dir/htpasswd"
        elif [ -n "$realm" ]; then
            echo "auth:"
            echo "  token:"
            echo "    realm: $realm"
            echo "    service: $service"
            echo "    issuer: $issuer"
            echo "    rootcertbundle: $bundle"
        fi
    } >"$dir/config.yml"
    # It reads REGISTRY_* variables as configuration: REGISTRY_AUTH_FILE (our auth.json) would break it.
    env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 100); do
        if curl -ks -o /dev/null -w '%{http_code}' "$scheme://$addr:$port/v2/" 2>/dev/null |
                grep -qE '200|401'; then
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
