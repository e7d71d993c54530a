#!/bin/sh
# The container's entry point: runs the given command.
#
# For redrock-server, a REDROCK_PASSWORD in the environment becomes its
# requirepass through a private copy of the config file (mode 0600, in
# $TMPDIR), never through the command line, which any local user can read
# in /proc/<pid>/cmdline. The copy is the file given with -c (if any) plus
# a requirepass line; CONFIG REWRITE then writes to the copy.
#
# Without REDROCK_PASSWORD the server runs in protected mode (the shipped
# config says protected-mode yes): clients not on the container's loopback
# interface get Redis's DENIED error until a password is set.
set -e
if [ "${1:-}" = "redrock-server" ] && [ -n "${REDROCK_PASSWORD:-}" ]; then
  case "$REDROCK_PASSWORD" in
    *"
"*)
      echo "docker-entrypoint.sh: REDROCK_PASSWORD must be a single line" >&2
      exit 64
      ;;
  esac
  shift
  # Take `-c FILE` out of the arguments, keeping the others in order.
  base=
  remaining=$#
  while [ "$remaining" -gt 0 ]; do
    arg=$1
    shift
    remaining=$((remaining - 1))
    if [ -z "$base" ] && [ "$arg" = "-c" ] && [ "$remaining" -gt 0 ]; then
      base=$1
      shift
      remaining=$((remaining - 1))
      continue
    fi
    set -- "$@" "$arg"
  done
  conf=$(umask 077 && mktemp "${TMPDIR:-/tmp}/redrock.conf.XXXXXX")
  {
    if [ -n "$base" ]; then
      cat "$base"
    fi
    printf 'requirepass "%s"\n' "$REDROCK_PASSWORD"
  } >"$conf"
  set -- redrock-server -c "$conf" "$@"
  # The server has it from the file; its environment need not carry it.
  unset REDROCK_PASSWORD
fi
exec "$@"
