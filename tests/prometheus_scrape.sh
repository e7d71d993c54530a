#!/usr/bin/env bash
# The whole monitoring chain with a real Prometheus (Debian's package):
# starts a RedRock node and Prometheus with deploy/prometheus.yml pointed at
# it, waits for a scrape, and asks Prometheus's HTTP API for RedRock's
# command counter. Also checks the config and the page with promtool.
#
#   tests/prometheus_scrape.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/common.sh
deploy/install-deps.sh --prometheus

work=$(mktemp -d)
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(free_port)
"$server" --port "$port" --dir "$work/redrock" --log-dir "$work" >/dev/null &
pids+=($!)
wait_ready "$port"
for i in $(seq 1 20); do redis-cli -p "$port" set "key:$i" "$i" >/dev/null; done
redis-cli -p "$port" lpush key:1 x >/dev/null  # one error, so the error series exists

promtool check config deploy/prometheus.yml
curl -sf "http://127.0.0.1:$port/metrics" | promtool check metrics
echo "promtool: deploy/prometheus.yml and the metrics page are valid"

prom_port=$(free_port)
sed -e "s/127.0.0.1:6666/127.0.0.1:$port/" -e "s/scrape_interval: 15s/scrape_interval: 1s/" \
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

# Every query of the Grafana dashboard is valid PromQL for this Prometheus
# and names only metrics the page serves.
curl -sf "http://127.0.0.1:$port/metrics" > "$work/page.txt"
python3 - "$prom_port" "$work/page.txt" deploy/grafana/redrock-dashboard.json <<'PY'
import json, re, sys, urllib.parse, urllib.request
port, page, dashboard = sys.argv[1], open(sys.argv[2]).read(), json.load(open(sys.argv[3]))
served = set(re.findall(r"^(redrock_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]", page, re.M))
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expr = target["expr"].replace("$instance", ".*")
        for name in re.findall(r"redrock_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in served or base in served, f"{panel['title']}: {name} is not on the page"
        url = f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.parse.quote(expr)
        answer = json.load(urllib.request.urlopen(url))
        assert answer["status"] == "success", (panel["title"], expr, answer)
print(f"dashboard: {len(dashboard['panels'])} panels, every query valid")
PY
