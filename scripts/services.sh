#!/usr/bin/env bash
# Check (and with `ensure`, start) the local services the PostgreSQL suite and the benchmarks
# use. Start commands are those of ../shared/services.md.
set -u
# usage: services.sh check|ensure [pg] [redis] [rabbit]   (default: all three)
mode=${1:-check}
shift || true
wanted=${*:-pg redis rabbit}

pg_up()     { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up()  { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

start_pg()     { pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start; }
start_redis()  { redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
                   --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; }
start_rabbit() { rabbitmq-server -detached; }

status=0
for svc in $wanted; do
  if "${svc}_up"; then echo "services: $svc is up"; continue; fi
  if [ "$mode" = ensure ]; then
    echo "services: $svc is down, starting it"
    "start_${svc}" >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do "${svc}_up" && break; sleep 1; done
  fi
  if "${svc}_up"; then echo "services: $svc is up"; else echo "services: $svc is DOWN"; status=1; fi
done
exit $status
