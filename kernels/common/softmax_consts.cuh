// Constants of the backward's recomputed softmax, shared by the sm_80 and sm_90a kernels (one definition, so that
// both families round P and dS alike).
#pragma once

namespace flash {

constexpr float LOG2E = 1.4426950408889634f;
// Probabilities within this of 1 count as 1 in dS (see the dS computations): 2^-16, wide enough for the
// recomputed P of a single allowed key (exp2 of the fp32 difference of S and lse, which may miss 0 by a few ulp
// of lse) and far below bfloat16/float16 resolution, so no representable gradient changes.
constexpr float P_ONE_BAND = 1.f / 65536.f;

}  // namespace flash
