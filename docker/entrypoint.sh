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
# The limit is read from cgroup v2 (/sys/fs/cgroup/memory.max), else cgroup
# v1 (/sys/fs/cgroup/memory/memory.limit_in_bytes); CGROUP_MEMORY_MAX_FILE
# names another file (tests). A command that already passes
# --max-old-space-size (or NODE_OPTIONS that does) is left alone.
set -eu

DEFAULT_HEAP_MB=192
RESERVE_MB=64
FLOOR_MB=64

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

heap_mb() {
  if [ -n "${NODE_HEAP_MB:-}" ]; then
    case "$NODE_HEAP_MB" in
      *[!0-9]*)
        echo "entrypoint: NODE_HEAP_MB must be a whole number of MB, got \"$NODE_HEAP_MB\"" >&2
        exit 78
        ;;
    esac
    echo "$NODE_HEAP_MB"
    return 0
  fi
  limit=$(memory_limit_mb)
  if [ -z "$limit" ]; then
    echo "$DEFAULT_HEAP_MB"
    return 0
  fi
  heap=$(((limit - RESERVE_MB) * 3 / 4))
  [ "$heap" -lt "$FLOOR_MB" ] && heap=$FLOOR_MB
  echo "$heap"
}

if [ "$#" -gt 0 ] && [ "$1" = "node" ]; then
  case " $* ${NODE_OPTIONS:-} " in
    *" --max-old-space-size="* | *" --max_old_space_size="*) ;;
    *)
      heap=$(heap_mb)
      shift
      set -- node "--max-old-space-size=$heap" "$@"
      ;;
  esac
fi

exec "$@"
