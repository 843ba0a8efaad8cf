#!/bin/sh
# The image's ENTRYPOINT: runs its command (CMD, compose `command`, Kubernetes
# `args`) and, when that command is `node ...`, caps V8's heap to fit the
# container's memory limit.
#
# Why: without --max-old-space-size, Node sizes its heap from the host (or
# lets garbage pile up to hundreds of MB before collecting it), so a large
# batch ends in an OOM kill by the kernel instead of a garbage collection.
# `npm start` sets the cap from NODE_HEAP_MB; the image runs node directly.
#
# Heap cap, in MB:
#   NODE_HEAP_MB when set (an explicit choice wins);
#   else 75% of (memory limit - 64 MB), at least 64 MB: the rest of the
#     limit is for what lives outside V8's heap (code, stacks, socket and
#     stream buffers);
#   else (no limit: cgroup "max", or no cgroup file) 192, as `npm start`.
#
# Young generation (--max-semi-space-size, MB): NODE_SEMI_SPACE_MB when set;
#   else 1/32 of the memory limit, at most 32 (V8's own default is 16); else
#   32. Per-line work allocates many short-lived objects: with 32 MB semi-
#   spaces the worker spends about a tenth less CPU per line, at the price
#   of up to 3 x 16 MB more resident memory (bench/RESULTS.md).
# The limit is read from cgroup v2 (/sys/fs/cgroup/memory.max), else cgroup
# v1 (/sys/fs/cgroup/memory/memory.limit_in_bytes); CGROUP_MEMORY_MAX_FILE
# names another file (tests). A flag the command (or NODE_OPTIONS) already
# passes is left alone.
set -eu

DEFAULT_HEAP_MB=192
RESERVE_MB=64
FLOOR_MB=64
DEFAULT_SEMI_SPACE_MB=32

# Prints the memory limit in MB, or nothing when there is none.
memory_limit_mb() {
  if [ -n "${CGROUP_MEMORY_MAX_FILE:-}" ]; then
    files="$CGROUP_MEMORY_MAX_FILE"
  else
    files="/sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes"
  fi
  for f in $files; do
    [ -r "$f" ] || continue
    raw=$(tr -d ' \n' < "$f")
    case "$raw" in
      '' | *[!0-9]*) return 0 ;; # "max": unlimited
    esac
    # cgroup v1 says "unlimited" with a number near 2^63; anything from a
    # petabyte up is no limit.
    [ "${#raw}" -ge 16 ] && return 0
    echo $((raw / 1048576))
    return 0
  done
}

# Prints the value of the variable named $1 (a whole number of MB, else exit
# 78) when it is set, else what the function named $2 derives from the
# memory limit.
explicit_or_derived_mb() {
  eval "value=\${$1:-}"
  if [ -n "$value" ]; then
    case "$value" in
      *[!0-9]*)
        echo "entrypoint: $1 must be a whole number of MB, got \"$value\"" >&2
        exit 78
        ;;
    esac
    echo "$value"
    return 0
  fi
  "$2" "$(memory_limit_mb)"
}

# $1: the memory limit in MB, or empty for none.
derived_heap_mb() {
  if [ -z "$1" ]; then
    echo "$DEFAULT_HEAP_MB"
    return 0
  fi
  heap=$((($1 - RESERVE_MB) * 3 / 4))
  [ "$heap" -lt "$FLOOR_MB" ] && heap=$FLOOR_MB
  echo "$heap"
}

# $1: the memory limit in MB, or empty for none.
derived_semi_space_mb() {
  semi=$DEFAULT_SEMI_SPACE_MB
  if [ -n "$1" ] && [ $(($1 / 32)) -lt "$semi" ]; then
    semi=$(($1 / 32))
    [ "$semi" -lt 1 ] && semi=1
  fi
  echo "$semi"
}

if [ "$#" -gt 0 ] && [ "$1" = "node" ]; then
  shift
  given=" $* ${NODE_OPTIONS:-} "
  # Whether the command or NODE_OPTIONS already passes V8 flag $1 (V8 takes
  # dashes and underscores alike).
  passes() {
    case "$given" in
      *" --$1="* | *" --$(echo "$1" | tr - _)="*) return 0 ;;
    esac
    return 1
  }
  flags=""
  passes max-old-space-size ||
    flags="--max-old-space-size=$(explicit_or_derived_mb NODE_HEAP_MB derived_heap_mb)"
  passes max-semi-space-size ||
    flags="$flags --max-semi-space-size=$(explicit_or_derived_mb NODE_SEMI_SPACE_MB derived_semi_space_mb)"
  # $flags holds only the flags built above (no spaces inside one): split on purpose.
  # shellcheck disable=SC2086
  set -- node $flags "$@"
fi

exec "$@"
