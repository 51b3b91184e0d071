#!/bin/bash
# Session 49's runs in one device call, most needed first (a start of a machine often fails, so one call should do
# all): run1.sh (END-ALIGN's checks, ab.py of every probe), run3.sh (BEST-ALIGN's checks), run2.sh (the grid on
# END-ALIGN's build), run4.sh (ncu on the d = 128 non-causal 2048 forward's pipes). From the repository root, on
# end-align-best.patch applied to main, carrying what run1.sh names; FLASH_ATTN_COMMIT from the command line. Expected: ~260 s, ~40 s, ~200 s, ~60 s (session 48's ab.py, earlier sessions'
# check.py --quick ~10 s, GPU suites 70-90 s); what is written under $OUT comes back if the call runs out of time.
HERE="$(dirname "$0")"
bash "$HERE/run1.sh"
bash "$HERE/run3.sh"
bash "$HERE/run2.sh"
bash "$HERE/run4.sh"
