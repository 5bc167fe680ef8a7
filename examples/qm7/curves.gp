# Test-fold MAE of the averaged weights during training, one curve per update rule.
# curves/make_curves.sh writes curves/<rule>.csv with `qm7 --csv` and then runs, in examples/qm7/:
#     gnuplot curves.gp
set terminal pngcairo size 900,560 font "sans,11"
set output "curves.png"
set datafile separator ","
set key top right
set grid
set logscale y
set ytics (2, 2.5, 3, 4, 5, 6, 8, 10, 15)
set yrange [2.3:16]
set xlabel "training step"
set ylabel "test MAE, kcal/mol (fold 0, log scale)"
set title "QM7, 2096-400-100-1 pre-bias network, seed 1234, minibatch 25"
set format x "%.0s%c"
# The rules fall into two pairs whose curves lie on top of each other, so the second of each
# pair is drawn dashed with markers.
plot "curves/paper.csv" using 1:2 skip 1 with lines lw 4 lc rgb "#1f77b4" title "paper", \
     "curves/autodiff-scaled.csv" using 1:2 skip 1 with linespoints lw 2 dt 2 pt 7 ps 0.6 \
         lc rgb "#ff7f0e" title "autodiff-scaled", \
     "curves/autodiff.csv" using 1:2 skip 1 with lines lw 4 lc rgb "#2ca02c" title "autodiff", \
     "curves/no-prebias.csv" using 1:2 skip 1 with linespoints lw 2 dt 2 pt 7 ps 0.6 \
         lc rgb "#d62728" title "no-prebias"
