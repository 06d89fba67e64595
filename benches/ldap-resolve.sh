#!/usr/bin/env bash
# Benchmark (not a test): `idfed resolve` against `ldapsearch -E pr=1000/noprompt` reading the same
# entries (every posixAccount and posixGroup, the same attributes, pages of 1000) from a throwaway
# slapd loaded with N users (default 30000) and one group holding them all. Prints the median of
# RUNS runs (default 5) of each, and their ratio.
# SHAPE=nested instead loads N users and N rfc2307bis groups nested as one chain (group i lists
# user i and group i+1 by DN; the last lists the first): idfed resolves the first, expanding all
# N nested groups, against ldapsearch reading the same entries. Its time against N shows that
# the expansion is linear in the directory.
#
#   benches/ldap-resolve.sh                  # builds and uses target/release/idfed
#   IDFED=target/debug/idfed N=30000 RUNS=5 benches/ldap-resolve.sh
#   BASELINE=/tmp/idfed-old benches/ldap-resolve.sh   # also times another build, interleaved
#
# Needs slapd, ldap-utils and python3; starts slapd on free 127.0.0.1 ports, stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-30000}
RUNS=${RUNS:-5}
SHAPE=${SHAPE:-flat}
case "$SHAPE" in
  flat) schema=rfc2307; share_group=everyone; group_filter='(objectClass=posixGroup)'; member_attr=memberUid ;;
  nested) schema=rfc2307bis; share_group=g0; group_filter='(&(gidNumber=*)(|(objectClass=posixGroup)(objectClass=groupOfNames)))'; member_attr=member ;;
  *) echo "bench: SHAPE is flat or nested" >&2; exit 2 ;;
esac
if [ -z "${IDFED:-}" ]; then
  cargo build --release --quiet
  IDFED=target/release/idfed
fi
IDFED=$(realpath "$IDFED")
BASELINE=${BASELINE:+$(realpath "$BASELINE")}

dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="ldap://127.0.0.1:$port"
suffix="dc=example,dc=org"
reader="cn=reader,$suffix"
password="reader-Pa55"

mkdir "$dir/data"
cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 1073741824
suffix "$suffix"
rootdn "cn=admin,$suffix"
rootpw admin-secret
directory $dir/data
limits * size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by * read
CONF

echo "bench: generating $N users" >&2
python3 - "$N" "$suffix" "$password" "$SHAPE" > "$dir/data.ldif" <<'PY'
import sys
n, suffix, password, shape = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = sys.stdout
out.write(f"dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n")
out.write(f"dn: ou=people,{suffix}\nobjectClass: organizationalUnit\nou: people\n\n")
out.write(f"dn: ou=groups,{suffix}\nobjectClass: organizationalUnit\nou: groups\n\n")
out.write(f"dn: cn=reader,{suffix}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {password}\n\n")
for i in range(n):
    name = f"user{i:06d}"
    out.write(f"dn: uid={name},ou=people,{suffix}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
              f"uid: {name}\ncn: {name}\nsn: {name}\nuidNumber: {100000 + i}\ngidNumber: 9000\n"
              f"homeDirectory: /home/{name}\n\n")
if shape == "nested":
    for i in range(n):
        out.write(f"dn: cn=g{i},ou=groups,{suffix}\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n"
                  f"cn: g{i}\ngidNumber: {200000 + i}\nmember: uid=user{i:06d},ou=people,{suffix}\n"
                  f"member: cn=g{(i + 1) % n},ou=groups,{suffix}\n\n")
else:
    out.write(f"dn: cn=everyone,ou=groups,{suffix}\nobjectClass: posixGroup\ncn: everyone\ngidNumber: 9000\n")
    for i in range(n):
        out.write(f"memberUid: user{i:06d}\n")
    out.write("\n")
PY
echo "bench: slapadd" >&2
slapadd -q -f "$dir/slapd.conf" -l "$dir/data.ldif"
slapd -h "$url/" -f "$dir/slapd.conf" -d 0 >"$dir/slapd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  ldapwhoami -x -H "$url" >/dev/null 2>&1 && break
  sleep 0.1
done

printf '%s' "$password" > "$dir/secret"
chmod 600 "$dir/secret"
cat > "$dir/idfed.toml" <<TOML
[source.corp]
type = "ldap"
url = "$url"
bind_dn = "$reader"
bind_password_file = "$dir/secret"
user_base = "ou=people,$suffix"
group_base = "ou=groups,$suffix"
schema = "$schema"
page_size = 1000
timeout_secs = 60

[share.everyone]
source = "corp"
path = "/mnt/pve/everyone"
groups = ["$share_group"]
TOML

run_idfed() {
  "${1:-$IDFED}" -c "$dir/idfed.toml" --format json resolve > "$dir/idfed.out"
}
run_ldapsearch() {
  {
    ldapsearch -x -LLL -H "$url" -D "$reader" -y "$dir/secret" -E pr=1000/noprompt \
      -b "ou=people,$suffix" '(objectClass=posixAccount)' uid uidNumber gidNumber
    ldapsearch -x -LLL -H "$url" -D "$reader" -y "$dir/secret" -E pr=1000/noprompt \
      -b "ou=groups,$suffix" "$group_filter" cn gidNumber "$member_attr"
  } > "$dir/ldapsearch.out"
}

# Seconds taken by a function, to the microsecond. Also appends to $dir/cpu.<label> the CPU
# seconds the function's processes used (user + system) and the CPU seconds slapd used meanwhile.
clk_tck=$(getconf CLK_TCK)
slapd_cpu() { awk -v t="$clk_tck" '{print ($14 + $15) / t}' "/proc/$pid/stat"; }
# The children's user + system seconds in the output of the builtin `times` (written to a file
# by the shell itself: `times` in a pipe or `$(...)` runs in a subshell with no children yet).
cpu_of() {
  sed -n 2p "$1" | awk '{n = 0; for (i = 1; i <= 2; i++) {split($i, p, "m"); n += p[1] * 60 + p[2]}; print n}'
}
timed() {
  local label=$1; shift
  local cpu0 cpu1 slapd0 start end
  times > "$dir/times"; cpu0=$(cpu_of "$dir/times"); slapd0=$(slapd_cpu)
  start=$EPOCHREALTIME
  "$@"
  end=$EPOCHREALTIME
  times > "$dir/times"; cpu1=$(cpu_of "$dir/times")
  echo "$(echo "$cpu1 - $cpu0" | bc -l) $(echo "$(slapd_cpu) - $slapd0" | bc -l)" >> "$dir/cpu.$label"
  echo "$end - $start" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Warm up both (slapd's caches) and check they read the same entries.
run_idfed
run_ldapsearch
entries=$(grep -c '^dn:' "$dir/ldapsearch.out")
python3 - "$dir/idfed.out" "$N" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
uids = doc["shares"]["everyone"]["uids"]
n = sum(r["count"] for r in uids)
assert n == int(sys.argv[2]), f"idfed resolved {n} uids, expected {sys.argv[2]}"
PY
echo "bench: both read $entries entries ($N users, $SHAPE groups); $RUNS runs each" >&2

idfed_times=(); ldap_times=(); baseline_times=()
for _ in $(seq "$RUNS"); do
  idfed_times+=("$(timed idfed run_idfed)")
  ldap_times+=("$(timed ldapsearch run_ldapsearch)")
  if [ -n "$BASELINE" ]; then baseline_times+=("$(timed baseline run_idfed "$BASELINE")"); fi
done
idfed_median=$(printf '%s\n' "${idfed_times[@]}" | median)
ldap_median=$(printf '%s\n' "${ldap_times[@]}" | median)
printf 'idfed resolve:               median %.3f s  (runs: %s)\n' "$idfed_median" "${idfed_times[*]}"
printf 'ldapsearch -E pr=1000 (x2):  median %.3f s  (runs: %s)\n' "$ldap_median" "${ldap_times[*]}"
printf 'ratio idfed/ldapsearch:      %.2f  (binary: %s)\n' "$(echo "$idfed_median / $ldap_median" | bc -l)" "$IDFED"
if [ -n "$BASELINE" ]; then
  baseline_median=$(printf '%s\n' "${baseline_times[@]}" | median)
  printf 'baseline resolve:            median %.3f s  (runs: %s)\n' "$baseline_median" "${baseline_times[*]}"
  printf 'ratio baseline/ldapsearch:   %.2f  (binary: %s)\n' "$(echo "$baseline_median / $ldap_median" | bc -l)" "$BASELINE"
fi
# CPU: what the client's processes used, and what slapd used while they ran (medians).
for label in idfed ldapsearch ${BASELINE:+baseline}; do
  client=$(cut -d' ' -f1 "$dir/cpu.$label" | median)
  server=$(cut -d' ' -f2 "$dir/cpu.$label" | median)
  printf 'cpu %-11s client %.3f s, slapd %.3f s (medians)\n' "$label:" "$client" "$server"
done
