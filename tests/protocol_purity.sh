#!/bin/sh
# protocol_purity: protocol/ is a pure library. It may not include I/O headers, and libtd.a may not
# reference I/O, clock or logging symbols. Usage: protocol_purity.sh PROTOCOL_DIR LIBTD_A
set -u
dir=$1 lib=$2
fail=0
bad_inc=$(grep -rnE '#\s*include\s*[<"](zmq|czmq|libwebsockets|uv|sqlite3|sys/socket|lua|lauxlib)\.h[>"]' "$dir" || true)
if [ -n "$bad_inc" ]; then
    echo "protocol/ includes an I/O header:"; echo "$bad_inc"; fail=1
fi
bad_sym=$(nm -u "$lib" | awk '{print $2}' | sed 's/@.*//' | grep -xE \
  'socket|connect|bind|listen|accept|send|sendto|sendmsg|recv|recvfrom|recvmsg|poll|select|epoll_.*|fopen|fopen64|open|open64|openat|read|write|time|clock_gettime|gettimeofday|getrandom|syslog|printf|fprintf|puts|perror|getenv|sleep|usleep|nanosleep' || true)
if [ -n "$bad_sym" ]; then
    echo "libtd.a references I/O, clock or logging symbols:"; echo "$bad_sym"; fail=1
fi
[ $fail = 0 ] && echo "protocol/ is pure"
exit $fail
