#!/usr/bin/env bash
# bench/compare.sh: netctl against the alternatives, in one run on one machine.
#
#   sudo bench/compare.sh            # from the repository root; about 5 minutes
#   SIZES="100 1000" sudo bench/compare.sh
#   PUBLISH_SIZES=10000 SIZES= sudo bench/compare.sh   # published ports only
#
# For N links (bench/genconfig: one bridge, icc: false, N clients each
# linked to one of 100 services), in throwaway network namespaces deleted
# at the end, it measures the same work three ways:
#   1. netctl apply --auto-approve of the file into an empty namespace (the
#      whole process: read the file, read the kernel, plan, journal, write,
#      verify by reading again, print the plan);
#   2. nft -f of the same table as an nft script (bench/nftscript: the
#      firewall of the file's desired state, (*plan.Firewall).NFT());
#   3. Docker's way: one iptables-nft -A call per link element (bench/nftscript
#      -iptables), up to IPT_MAX links; beyond, extrapolated linearly.
# and, on a namespace that already matches: netctl plan against
# nft list ruleset; one link added to / removed from 10,000 against the
# full apply; the peak RSS of netctl apply at the largest N.
#
# Needs root, go, hyperfine, nft, iptables-nft, nsenter, ip and /usr/bin/time
# (Debian: hyperfine nftables iptables util-linux iproute2 time).
# Everything runs inside namespaces it creates; the machine's own network
# namespace is never touched. Raw hyperfine CSVs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES-"100 1000 10000 100000"}
PUBLISH_SIZES=${PUBLISH_SIZES-"100 10000"} # published ports (issue 13)
IPT_MAX=${IPT_MAX:-1000}  # per-rule iptables measured up to here
RUNS=${RUNS:-10}          # hyperfine runs per measurement
RUNS_LARGE=${RUNS_LARGE:-5} # … at 100,000 links and more
OUT=${OUT:-bench/out}

for tool in go hyperfine nft iptables-nft nsenter ip /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (network namespaces, nftables)" >&2; exit 1; }

work=$(mktemp -d)
prefix="ncbench-$$"
mkdir -p "$OUT"
cleanup() {
	for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
		ip netns del "$ns" 2>/dev/null || true  # netctl removes its own lock file
	done
	rm -rf "$work"
}
trap cleanup EXIT

echo "Building netctl and the helpers…" >&2
go build -o "$work/netctl" ./cmd/netctl
go build -o "$work/genconfig" ./bench/genconfig
go build -o "$work/nftscript" ./bench/nftscript
netctl="$work/netctl"

# Namespaces: one per measurement, made fresh before every timed run.
nsn=0
newns() { nsn=$((nsn + 1)); echo "$prefix-$nsn"; }
# fresh NS [SETTLE]: the command that empties NS (deletes and re-creates it);
# SETTLE seconds let the kernel finish freeing what was in it.
fresh() { echo "{ ip netns del $1 2>/dev/null || true; }; ip netns add $1 && ip -n $1 link set lo up && sleep ${2:-0}"; }
inns() { echo "nsenter --net=/run/netns/$1"; }
settle() { if [ "$1" -ge 100000 ]; then echo 0.5; elif [ "$1" -ge 10000 ]; then echo 0.1; else echo 0; fi; }
runs() { if [ "$1" -ge 100000 ]; then echo "$RUNS_LARGE"; else echo "$RUNS"; fi; }

# median NAME RUNS PREPARE COMMAND: the median of hyperfine's runs, in seconds.
median() {
	local name=$1 n=$2 prepare=$3 cmd=$4
	hyperfine --style none --runs "$n" --prepare "$prepare" --export-csv "$OUT/$name.csv" "$cmd" >/dev/null 2>"$work/hf.err" ||
		{ echo "compare.sh: $name failed: $cmd" >&2; cat "$work/hf.err" >&2; exit 1; }
	awk -F, 'NR == 2 { print $4 }' "$OUT/$name.csv"
}
ms() { awk -v s="$1" 'BEGIN { v = s * 1000; if (v >= 100) printf "%.0f ms", v; else if (v >= 10) printf "%.1f ms", v; else printf "%.2f ms", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; if (r >= 100) printf "%.0fx", r; else if (r >= 10) printf "%.1fx", r; else printf "%.2fx", r }'; }

echo "Generating files…" >&2
for n in $SIZES; do
	"$work/genconfig" -links "$n" >"$work/links-$n.yaml"
	"$work/nftscript" -f "$work/links-$n.yaml" >"$work/links-$n.nft"
	if [ "$n" -le "$IPT_MAX" ]; then
		"$work/nftscript" -f "$work/links-$n.yaml" -iptables >"$work/links-$n.ipt"
	fi
done
ipt_ref=""
for n in $SIZES; do [ "$n" -le "$IPT_MAX" ] && ipt_ref=$n; done
for n in $PUBLISH_SIZES; do
	"$work/genconfig" -publish "$n" >"$work/publish-$n.yaml"
	"$work/nftscript" -f "$work/publish-$n.yaml" >"$work/publish-$n.nft"
done

echo
echo "# netctl, nft -f and per-rule iptables on $(hostname)"
echo
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
echo "$(nft --version), $(iptables-nft --version), $(hyperfine --version), $(go version | cut -d' ' -f3)"
echo "Medians of $RUNS hyperfine runs ($RUNS_LARGE at 100,000 links and more); each run into a namespace made just before it."
echo

if [ -n "$PUBLISH_SIZES" ]; then
	echo "## Apply N published ports into an empty namespace"
	echo
	echo "(bench/genconfig -publish N: 100 containers, N publications round robin; netctl also creates the"
	echo "bridge and sets route_localnet, nft -f writes the same table only)"
	echo
	printf '| %-9s | %-12s | %-12s | %-15s |\n' "published" "netctl apply" "nft -f" "netctl / nft -f"
	printf '|%s|%s|%s|%s|\n' "-----------" "--------------" "--------------" "-----------------"
	for n in $PUBLISH_SIZES; do
		ns=$(newns)
		r=$(runs "$n")
		t_netctl=$(median "publish-netctl-$n" "$r" "$(fresh "$ns" "$(settle "$n")")" \
			"$netctl apply -f $work/publish-$n.yaml --netns $ns --auto-approve")
		t_nft=$(median "publish-nft-$n" "$r" "$(fresh "$ns" "$(settle "$n")")" "$(inns "$ns") nft -f $work/publish-$n.nft")
		printf '| %-9s | %-12s | %-12s | %-15s |\n' "$n" "$(ms "$t_netctl")" "$(ms "$t_nft")" "$(ratio "$t_netctl" "$t_nft")"
	done
	echo
fi
[ -z "$SIZES" ] && exit 0 # PUBLISH_SIZES=10000 SIZES= bench/compare.sh: published ports only

declare -A APPLY
echo "## Apply N links into an empty namespace"
echo
printf '| %-7s | %-12s | %-12s | %-22s | %-15s | %-18s |\n' links "netctl apply" "nft -f" "iptables-nft -A, N times" "netctl / nft -f" "iptables / netctl"
printf '|%s|%s|%s|%s|%s|%s|\n' "---------" "--------------" "--------------" "------------------------" "-----------------" "--------------------"
per_rule=""
for n in $SIZES; do
	ns=$(newns)
	r=$(runs "$n")
	t_netctl=$(median "apply-netctl-$n" "$r" "$(fresh "$ns" "$(settle "$n")")" \
		"$netctl apply -f $work/links-$n.yaml --netns $ns --auto-approve")
	APPLY[$n]=$t_netctl
	t_nft=$(median "apply-nft-$n" "$r" "$(fresh "$ns" "$(settle "$n")")" "$(inns "$ns") nft -f $work/links-$n.nft")
	if [ -f "$work/links-$n.ipt" ]; then
		t_ipt=$(median "apply-iptables-$n" 3 "$(fresh "$ns")" "$(inns "$ns") xargs -L1 iptables-nft <$work/links-$n.ipt")
		[ "$n" = "$ipt_ref" ] && per_rule=$(awk -v t="$t_ipt" -v n="$n" 'BEGIN { print t / n }')
		ipt_text=$(ms "$t_ipt")
	elif [ -n "$per_rule" ]; then
		t_ipt=$(awk -v p="$per_rule" -v n="$n" 'BEGIN { print p * n }')
		ipt_text="~$(ms "$t_ipt") (extrap.)"
	else
		t_ipt="" ipt_text="—"
	fi
	ipt_ratio="—"
	[ -n "$t_ipt" ] && ipt_ratio=$(ratio "$t_ipt" "$t_netctl")
	printf '| %-7s | %-12s | %-12s | %-22s | %-15s | %-18s |\n' "$n" "$(ms "$t_netctl")" "$(ms "$t_nft")" "$ipt_text" \
		"$(ratio "$t_netctl" "$t_nft")" "$ipt_ratio"
done
echo
if [ -n "$per_rule" ]; then
	echo "iptables-nft: $(ms "$per_rule") per rule at $ipt_ref rules; sizes past $IPT_MAX are extrapolated linearly from there,"
	echo "a lower bound: each call reads the whole table, so the cost per rule grows with the ruleset."
	echo "(Docker writes two rules per linked port, one for each direction: its real cost is about twice this.)"
	echo
fi

echo "## No-change plan against nft list ruleset (the namespace already matches the file)"
echo
printf '| %-7s | %-12s | %-16s | %-18s |\n' links "netctl plan" "nft list ruleset" "nft list / netctl"
printf '|%s|%s|%s|%s|\n' "---------" "--------------" "------------------" "--------------------"
for n in $SIZES; do
	ns=$(newns)
	eval "$(fresh "$ns")"
	"$netctl" apply -f "$work/links-$n.yaml" --netns "$ns" --auto-approve >/dev/null
	r=$(runs "$n")
	t_plan=$(median "plan-netctl-$n" "$r" true "$netctl plan -f $work/links-$n.yaml --netns $ns --detailed-exitcode")
	t_list=$(median "plan-nft-list-$n" "$r" true "$(inns "$ns") nft list ruleset")
	printf '| %-7s | %-12s | %-16s | %-18s |\n' "$n" "$(ms "$t_plan")" "$(ms "$t_list")" "$(ratio "$t_list" "$t_plan")"
	ip netns del "$ns"
done
echo

base=10000
if [ -n "${APPLY[$base]:-}" ]; then
	echo "## One link added to, or removed from, $base"
	echo
	"$work/genconfig" -links $((base + 1)) >"$work/links-$((base + 1)).yaml"
	ns=$(newns)
	t_add=$(median "add-one-$base" "$RUNS" \
		"$(fresh "$ns" 0.1); $netctl apply -f $work/links-$base.yaml --netns $ns --auto-approve >/dev/null" \
		"$netctl apply -f $work/links-$((base + 1)).yaml --netns $ns --auto-approve")
	t_del=$(median "remove-one-$base" "$RUNS" \
		"$(fresh "$ns" 0.1); $netctl apply -f $work/links-$((base + 1)).yaml --netns $ns --auto-approve >/dev/null" \
		"$netctl apply -f $work/links-$base.yaml --netns $ns --auto-approve")
	printf '| %-34s | %-10s | %-26s |\n' "netctl apply" "time" "full apply of $base / this"
	printf '|%s|%s|%s|\n' "------------------------------------" "------------" "----------------------------"
	printf '| %-34s | %-10s | %-26s |\n' "$base links into an empty namespace" "$(ms "${APPLY[$base]}")" "1x"
	printf '| %-34s | %-10s | %-26s |\n' "one link added to $base" "$(ms "$t_add")" "$(ratio "${APPLY[$base]}" "$t_add")"
	printf '| %-34s | %-10s | %-26s |\n' "one link removed from $((base + 1))" "$(ms "$t_del")" "$(ratio "${APPLY[$base]}" "$t_del")"
	echo
fi

largest=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
echo "## Peak memory at $largest links (/usr/bin/time -f %M, $RUNS_LARGE runs)"
echo
ns=$(newns)
for what in netctl nft; do
	rss=()
	for _ in $(seq "$RUNS_LARGE"); do
		eval "$(fresh "$ns" "$(settle "$largest")")"
		if [ $what = netctl ]; then
			/usr/bin/time -f %M -o "$work/rss" "$netctl" apply -f "$work/links-$largest.yaml" --netns "$ns" --auto-approve >/dev/null
		else
			/usr/bin/time -f %M -o "$work/rss" nsenter --net="/run/netns/$ns" nft -f "$work/links-$largest.nft"
		fi
		rss+=("$(tail -1 "$work/rss")")
	done
	sorted=$(printf '%s\n' "${rss[@]}" | sort -n)
	printf '%-28s median %4d MB, max %4d MB\n' "$([ $what = netctl ] && echo "netctl apply" || echo "nft -f")" \
		$(($(echo "$sorted" | sed -n "$(((RUNS_LARGE + 1) / 2))p") / 1024)) $(($(echo "$sorted" | tail -1) / 1024))
done
echo
echo "Raw hyperfine results: $OUT/*.csv"
