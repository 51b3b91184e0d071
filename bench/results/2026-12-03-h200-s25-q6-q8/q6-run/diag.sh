cd kernels/build_old/q6test
for c in "1 1000 4 2 0" "1 512 8 8 0" "2 512 8 8 0" "4 512 8 8 0" "32 512 8 8 0" "4 512 8 8 1" "32 512 8 8 0 dq"; do
  echo "== $c"; timeout 25 python3 diag.py $c 2>&1 | grep -v Warn | tail -4; echo "rc $?"
done
