#!/usr/bin/env bash
# bench/dataplane.sh: the rate of new TCP connections between two containers,
# netctl's set against one rule per link, as medians of several runs.
#
#   sudo bench/dataplane.sh          # from the repository root; RUNS=5 by default
#   sudo BENCH=NewConnections6 bench/dataplane.sh   # IPv6 links only (dual-stack bridge)
#   BENCH=PublishedConnections sudo bench/dataplane.sh   # through a published port,
#                                    # 10 vs 10,000 publications (issue 13)
#   BENCH=PublishedConnections6 sudo bench/dataplane.sh  # the same over IPv6 (issue 14)
#
# Each run is one `go test -bench NewConnections` (e2e/dataplane_bench_test.go):
# every case in throwaway namespaces, in turn, so that the runs interleave the
# cases and a slow moment of the machine does not fall on one case only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BENCH=${BENCH:-NewConnections}
BENCHTIME=${BENCHTIME:-2s}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
[ "$(id -u)" = 0 ] || { echo "dataplane.sh: run as root (network namespaces)" >&2; exit 1; }

raw="$OUT/dataplane-$BENCH.txt"
: >"$raw"
for i in $(seq "$RUNS"); do
	echo "run $i of $RUNS…" >&2
	go test -run '^$' -bench "^Benchmark$BENCH\$" -benchtime "$BENCHTIME" ./e2e/ | tee -a "$raw" | grep -q '^ok' ||
		{ echo "dataplane.sh: the benchmark failed; see $raw" >&2; exit 1; }
done

echo
if [ "$BENCH" = PublishedConnections ] || [ "$BENCH" = PublishedConnections6 ]; then
	to="198.51.100.1:20000 -> svc0:80"
	[ "$BENCH" = PublishedConnections6 ] && to="[2001:db8:100::1]:20000 -> svc0 (its address6):80"
	echo "# New TCP connections per second, outside -> $to (median of $RUNS runs of $BENCHTIME)"
	echo
	awk '
/^BenchmarkPublishedConnections6?\// {
	split($1, p, "/"); n = p[2]; sub(/-[0-9]+$/, "", n); sub(/^published=/, "", n)
	if (!(n in seen)) { order[++k] = n; seen[n] = 1 }
	v[n, ++c[n]] = $5
}
function median(key,   i, j, t, a, m) {
	m = c[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	printf "| %-9s | %-10s | %-14s | %-34s |\n", "published", "conns/s", "vs 10", "each run"
	printf "|-----------|------------|----------------|------------------------------------|\n"
	for (i = 1; i <= k; i++) {
		key = order[i]; m = median(key); base = median(order[1])
		runs = ""; for (j = 1; j <= c[key]; j++) runs = runs (j > 1 ? " " : "") sprintf("%.1fk", v[key, j] / 1000)
		printf "| %-9s | %-10.0f | %-14s | %-34s |\n", key, m, sprintf("%+.1f%%", (m / base - 1) * 100), runs
	}
}' "$raw"
	echo
	echo "Every run: $raw"
	exit 0
fi
echo "# New TCP connections per second, app0 -> svc0 (median of $RUNS runs of $BENCHTIME)"
echo
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
echo
# Lines: BenchmarkNewConnections/links=N/KIND-P  iters  ns/op  ns/op  rate  conns/s
awk '
/^BenchmarkNewConnections6?\// {
	split($1, p, "/"); n = substr(p[2], 7); kind = p[3]; sub(/-[0-9]+$/, "", kind)
	key = n "/" kind; if (!(key in seen)) { order[++k] = key; seen[key] = 1 }
	v[key, ++c[key]] = $5
}
function median(key,   i, j, t, a, m) {
	m = c[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	for (i = 1; i <= k; i++) med[order[i]] = median(order[i])
	printf "| %-7s | %-6s | %-10s | %-22s | %-34s |\n", "links", "how", "conns/s", "vs 10 links, same way", "each run"
	printf "|---------|--------|------------|------------------------|------------------------------------|\n"
	for (i = 1; i <= k; i++) {
		key = order[i]; split(key, q, "/")
		base = med["10/" q[2]]
		rel = base ? sprintf("%+.1f%%", (med[key] / base - 1) * 100) : "-"
		runs = ""; for (j = 1; j <= c[key]; j++) runs = runs (j > 1 ? " " : "") sprintf("%.1fk", v[key, j] / 1000)
		printf "| %-7s | %-6s | %-10.0f | %-22s | %-34s |\n", q[1], q[2], med[key], rel, runs
	}
}' "$raw"
echo
echo "Every run: $raw"
