#!/bin/bash
# Session 29, P1, from the repository root: the bwd_pre probe (pre_sms.cu, built here with
# `nvcc -O3 -arch=sm_90a -o pre_sms pre_sms.cu`; the binary is ignored and carried) on the H200.
cd bench/results/2026-12-05-h200-s29-pre-sms && mkdir -p $OUT/r1 && ./pre_sms | tee $OUT/r1/pre_sms.txt
