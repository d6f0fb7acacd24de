#!/bin/sh
# Temporal's schemas on PostgreSQL: created on the first run, upgraded to this release's on every later one
# (temporal-sql-tool, from temporalio/admin-tools at the server's version). docker-compose.yml runs it
# before the server starts.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$POSTGRES_USER" "$@"; }  # password: SQL_PASSWORD
for db in temporal temporal_visibility; do
  schema=$([ "$db" = temporal ] && echo temporal || echo visibility)
  tool --db "$db" create || true   # exists already after the first run
  tool --db "$db" setup-schema -v 0.0   # a no-op once versioned
  tool --db "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
echo "Temporal schemas set up and upgraded"
