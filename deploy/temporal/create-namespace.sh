#!/bin/sh
# Register the namespace once (over mTLS, with the services' client certificate).
set -eu
tls="--tls-cert-path /run/secrets/earlyhelp_tls_cert --tls-key-path /run/secrets/earlyhelp_tls_key"
tls="$tls --tls-ca-path /run/secrets/temporal_tls_ca --tls-server-name temporal"
# shellcheck disable=SC2086
temporal operator namespace describe -n "$NAMESPACE" --address temporal:7233 $tls \
  || temporal operator namespace create -n "$NAMESPACE" --retention 30d --address temporal:7233 $tls
