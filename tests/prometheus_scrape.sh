#!/usr/bin/env bash
# The whole monitoring chain with a real Prometheus (Debian's package):
# starts a RedRock master and a replica of it, and Prometheus with
# deploy/prometheus.yml pointed at both, waits for a scrape, and asks
# Prometheus's HTTP API for RedRock's command counter and for every query
# of the Grafana dashboard, each of which must return data. Also checks the
# config and both pages with promtool.
#
#   tests/prometheus_scrape.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/common.sh
deploy/install-deps.sh --prometheus

init_work

port=$(free_port)
"$server" --port "$port" --dir "$work/redrock" --log-dir "$work" >/dev/null &
pids+=($!)
wait_ready "$port"
replica_port=$(free_port)
mkdir -p "$work/replica-logs"
"$server" --port "$replica_port" --dir "$work/replica" --log-dir "$work/replica-logs" \
  --replicaof "127.0.0.1 $port" >/dev/null &
pids+=($!)
wait_ready "$replica_port"
for i in $(seq 1 20); do redis-cli -p "$port" set "key:$i" "$i" >/dev/null; done
redis-cli -p "$port" lpush key:1 x >/dev/null  # one error, so the error series exists

info() { redis-cli -p "$1" info replication | tr -d '\r' | sed -n "s/^$2://p"; }
for _ in $(seq 1 300); do
  if [ "$(info "$replica_port" master_link_status)" = up ] &&
     [ "$(info "$replica_port" slave_repl_offset)" = "$(info "$port" master_repl_offset)" ]; then
    break
  fi
  sleep 0.1
done
if [ "$(info "$replica_port" slave_repl_offset)" != "$(info "$port" master_repl_offset)" ]; then
  echo "FAILED: the replica did not sync" >&2
  exit 1
fi

promtool check config deploy/prometheus.yml
for p in "$port" "$replica_port"; do
  curl -sf "http://127.0.0.1:$p/metrics" | promtool check metrics
done
echo "promtool: deploy/prometheus.yml and the metrics pages are valid"

prom_port=$(free_port)
sed -e "s/- 127.0.0.1:6666/- 127.0.0.1:$port\n          - 127.0.0.1:$replica_port/" \
  -e "s/scrape_interval: 15s/scrape_interval: 1s/" \
  deploy/prometheus.yml > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

query="redrock_commands_processed_total%7Bcommand%3D%22set%22%7D"
for _ in $(seq 1 120); do
  answer=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/query?query=$query" || true)
  if echo "$answer" | grep -q '"value":\[[0-9.]*,"20"\]'; then
    echo "Prometheus scraped RedRock: $answer"
    break
  fi
  sleep 0.5
done
if ! echo "$answer" | grep -q '"value":\[[0-9.]*,"20"\]'; then
  echo "FAILED: Prometheus never reported 20 SETs; last answer: ${answer:-none}" >&2
  tail -20 "$work/prometheus.log" >&2
  exit 1
fi

# Every query of the Grafana dashboard is valid PromQL for this Prometheus,
# names only metrics the pages serve, and returns data for this pair of
# nodes (rates need a few scrapes: each query is retried for a while).
curl -sf "http://127.0.0.1:$port/metrics" > "$work/page.txt"
curl -sf "http://127.0.0.1:$replica_port/metrics" >> "$work/page.txt"
python3 - "$prom_port" "$work/page.txt" deploy/grafana/redrock-dashboard.json \
  "127.0.0.1:$port" "127.0.0.1:$replica_port" <<'PY'
import json, re, sys, time, urllib.parse, urllib.request
port, page, dashboard = sys.argv[1], open(sys.argv[2]).read(), json.load(open(sys.argv[3]))
master, replica = sys.argv[4], sys.argv[5]
served = set(re.findall(r"^(redrock_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]", page, re.M))

def query(expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.parse.quote(expr)
    answer = json.load(urllib.request.urlopen(url))
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]

def data(expr, title):
    deadline = time.time() + 60
    while not (result := query(expr)):
        assert time.time() < deadline, f"{title}: no data for {expr}"
        time.sleep(0.5)
    return result

queries = 0
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$instance", ".*")
        for name in re.findall(r"redrock_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in served or base in served, f"{panel['title']}: {name} is not on the page"
        data(expr, panel["title"])
        queries += 1

# The replication row shows this pair as it is.
def value(expr):
    return [float(r["value"][1]) for r in data(expr, expr)]
addr = "127.0.0.1:" + replica.split(":")[1]
for expr, expected in [
    (f'redrock_replication_connected_replicas{{instance="{master}"}}', [1]),
    (f'redrock_replication_master_link_up{{instance="{replica}"}}', [1]),
    (f'redrock_replication_role{{instance="{replica}",role="replica"}}', [1]),
    (f'redrock_replication_replica_online{{instance="{master}",addr="{addr}"}}', [1]),
    (f'redrock_replication_replica_lag_sequences{{instance="{master}",addr="{addr}"}}', [0]),
    (f'redrock_replication_full_syncs_total{{instance="{replica}",side="replica"}}', [1]),
    # No slot moves outside cluster mode, yet the series are there.
    ('redrock_slot_migration_state{state="start"}', [0, 0]),
    ('redrock_slot_import_first_slot', [-1, -1]),
    ('redrock_slot_migration_keys_total', [0, 0]),
]:
    assert value(expr) == expected, (expr, value(expr))
offsets = value("redrock_replication_offset")
assert len(offsets) == 2 and offsets[0] == offsets[1], f"offsets differ: {offsets}"
print(f"dashboard: {len(dashboard['panels'])} panels, {queries} queries, every one valid and with data")
PY
