# Chart of bench/results.md: msgs/s by payload size for each server.
# scripts/bench runs: gnuplot -e "datafile='…'; outfile='…'; subtitle='…'" bench/chart.gp
# Data columns: size label, then median/min/max for module 1.28.3, module
# Debian 1.22.1, lua-resty-websocket, raw TCP echo.
set terminal pngcairo size 960,560 font "DejaVu Sans,10"
set output outfile
set title "WebSocket echo, messages per second by payload size\n{/*0.85 ".subtitle."}"
set style data histogram
set style histogram errorbars gap 1.5 lw 1.2
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set ylabel "messages/s, log scale (bar: median; whiskers: min–max)"
set xlabel "payload size"
set grid ytics mytics lc rgb "#dddddd"
set key outside bottom center horizontal
set yrange [1000:*]
plot datafile using 2:3:4:xtic(1) title "this module, nginx 1.28.3" lc rgb "#1f5fa8", \
     ''       using 5:6:7           title "this module, Debian nginx 1.22.1" lc rgb "#6fa8dc", \
     ''       using 8:9:10          title "lua-resty-websocket, Debian nginx 1.22.1" lc rgb "#cc4125", \
     ''       using 11:12:13        title "raw TCP echo (loopback limit)" lc rgb "#999999"
