#!/usr/bin/env bash
# Plots a soak CSV (tests/bench/soak.cpp: minute,elapsed_s,rss_kib,hwm_kib,
# open_files,threads,answers,unexpected) to a PNG with gnuplot: RSS in MiB
# on the left axis, open files on the right, the 5 % band above the RSS at
# a sixth of the run (the soak's pass line) dashed.
#   scripts/soak_plot.sh CSV PNG [TITLE] [BASELINE_MINUTE]
# gnuplot comes from scripts/deps.sh gnuplot-nox (make soak installs it).
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 CSV PNG [TITLE]" >&2; exit 2; }
csv=$1 png=$2 title=${3:-maxsess soak} base_minute=${4:-}
command -v gnuplot >/dev/null || { echo "$0: gnuplot missing: scripts/deps.sh gnuplot-nox" >&2; exit 1; }
# The RSS of the first sample at or after the baseline (a sixth of the run).
base=$(awk -F, -v bm="$base_minute" 'NR > 1 { m[NR] = $1; r[NR] = $3; last = NR }
  END { b = bm == "" ? m[last] / 6 : bm
        for (i = 2; i <= last; i++) if (m[i] >= b - 0.01) { print r[i] / 1024; exit } }' "$csv")
gnuplot <<GP
set terminal pngcairo size 1000,560 noenhanced
set output "$png"
set datafile separator ","
set title "$title"
set xlabel "minute"
set ylabel "RSS (MiB)"
set y2label "open files"
set ytics nomirror
set y2tics
set key bottom right
set grid
set yrange [0:*]
set y2range [0:*]
plot "$csv" using 1:(\$3/1024) skip 1 with linespoints title "RSS", \
     ${base:-0} * 1.05 with lines dashtype 2 title "RSS at the baseline minute + 5 % (pass line)", \
     "$csv" using 1:5 skip 1 axes x1y2 with linespoints title "open files"
GP
echo "soak_plot.sh: wrote $png" >&2
