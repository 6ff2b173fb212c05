#!/usr/bin/env bash
# The floor under a sync (issue 7): fetches every page of a Sessions API
# listing with curl, one request per page as a sync asks them, and prints
# "pages N seconds S". Usage: curl_pages.sh BASE_URL LIMIT [USER:PASS]
#   BASE_URL e.g. http://127.0.0.1:9000/streamer/api/v3
set -euo pipefail
base=$1 limit=$2 auth=${3:-flussonic:secret}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
start=$(date +%s.%N)
cursor="" pages=0
while :; do
  url="$base/sessions?limit=$limit"
  [ -n "$cursor" ] && url="$url&cursor=$cursor"
  curl -sf -u "$auth" -o "$tmp" "$url"
  pages=$((pages + 1))
  # Only the next cursor is looked at (the emulator writes it last, as
  # "next": "..." or "next": null): curl's part is the floor, not a client.
  tail=$(tail -c 300 "$tmp")
  [[ $tail =~ \"next\":\ ?\"([^\"]*)\" ]] || break
  cursor=${BASH_REMATCH[1]}
done
end=$(date +%s.%N)
echo "pages $pages seconds $(echo "$end - $start" | bc)"
