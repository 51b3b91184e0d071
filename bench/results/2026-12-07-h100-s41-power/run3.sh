#!/bin/bash
R=$OUT/r3; mkdir -p $R
export PYTHONUNBUFFERED=1
cd kernels/test
nvidia-smi --query-gpu=name,power.limit,clocks.max.sm,clocks.applications.graphics --format=csv
timeout 120 python3 ../../.probe/power.py 2>&1 | tee $R/power.txt
