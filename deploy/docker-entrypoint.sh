#!/bin/sh
# The container's entry point: runs the given command; for redrock-server,
# a REDROCK_PASSWORD in the environment becomes its requirepass.
set -e
if [ "${1:-}" = "redrock-server" ] && [ -n "${REDROCK_PASSWORD:-}" ]; then
  set -- "$@" --requirepass "$REDROCK_PASSWORD"
fi
exec "$@"
