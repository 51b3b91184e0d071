// Tile shapes per compiled head dim. FwdConfig and BwdConfig fit in 99 KB of shared memory per block, so they
// launch on sm_80, sm_86/89 and sm_90 alike.
#pragma once

namespace flash {

// Forward: a block owns BR = 16 * MT * WARPS query rows (each warp MT m-tiles of 16 rows) and walks the
// keys BC at a time. Shared memory: Q [BR][D], K [BC][D], V [BC][D].
template <int D> struct FwdConfig;
template <> struct FwdConfig<32>  { static constexpr int WARPS = 4, MT = 2, BC = 64; };
template <> struct FwdConfig<64>  { static constexpr int WARPS = 4, MT = 2, BC = 64; };
template <> struct FwdConfig<96>  { static constexpr int WARPS = 4, MT = 2, BC = 64; };
template <> struct FwdConfig<128> { static constexpr int WARPS = 4, MT = 2, BC = 64; };
template <> struct FwdConfig<160> { static constexpr int WARPS = 8, MT = 1, BC = 64; };
template <> struct FwdConfig<192> { static constexpr int WARPS = 8, MT = 1, BC = 64; };
template <> struct FwdConfig<224> { static constexpr int WARPS = 4, MT = 1, BC = 64; };
template <> struct FwdConfig<256> { static constexpr int WARPS = 4, MT = 1, BC = 64; };

// Backward: a block owns BC key rows (K, V resident) and walks the queries BR at a time; with STAGES = 2 the
// next Q/dO block streams in while the current one is processed. Shared memory: K, V [BC][D];
// STAGES x (Q, dO [BR][D], lse, D [BR] float32); P^T, dS^T [BC][BR].
// Warp tiles: AM / BM m-tiles of 16 keys per warp in phase A (S^T, dP^T) / phase B (dV, dK), CM m-tiles of 16
// queries per warp in phase C (dQ). Two m-tiles per warp read each shared B fragment once for two products,
// which is what bounds the backward on sm_80-class code (ldmatrix bandwidth), at the cost of registers.
// BwdConfig fits 99 KB (every sm_80+ card). BwdConfigLarge, where defined, is a bigger-tile variant for cards
// that allow more shared memory per block (A100 163 KB, H100 227 KB); the runtime takes the largest that fits.
// The large d128 variant (2x2 m-tiles in phases A and B) fits 255 registers without spills only with the ptxas
// register-usage level that scripts/build-kernels.mjs sets for it (PTXAS_REGISTER_LEVEL).
struct BwdWarpTiles { static constexpr int AM = 1, BM = 1, CM = 1; };
template <int D> struct BwdConfig;
template <> struct BwdConfig<32>  : BwdWarpTiles { static constexpr int WARPS = 8, BC = 128, BR = 64, STAGES = 2; };
template <> struct BwdConfig<64>  { static constexpr int WARPS = 8, BC = 128, BR = 64, STAGES = 2, AM = 2, BM = 2, CM = 2; };
template <> struct BwdConfig<96>  : BwdWarpTiles { static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 2; };
template <> struct BwdConfig<128> : BwdWarpTiles { static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 1; };
template <> struct BwdConfig<160> : BwdWarpTiles { static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 1; };
template <> struct BwdConfig<192> : BwdWarpTiles { static constexpr int WARPS = 8, BC = 64, BR = 32, STAGES = 1; };
template <> struct BwdConfig<224> : BwdWarpTiles { static constexpr int WARPS = 4, BC = 32, BR = 32, STAGES = 2; };
template <> struct BwdConfig<256> : BwdWarpTiles { static constexpr int WARPS = 4, BC = 32, BR = 32, STAGES = 1; };

// Head dims without a large variant: DEFINED = false and the small shape (that kernel is never listed).
template <int D> struct BwdConfigLarge : BwdConfig<D> { static constexpr bool DEFINED = false; };
template <> struct BwdConfigLarge<128> { static constexpr bool DEFINED = true; static constexpr int WARPS = 8, BC = 128, BR = 64, STAGES = 2, AM = 2, BM = 2, CM = 1; };
template <> struct BwdConfigLarge<160> : BwdWarpTiles { static constexpr bool DEFINED = true; static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 2; };
template <> struct BwdConfigLarge<192> : BwdWarpTiles { static constexpr bool DEFINED = true; static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 2; };
template <> struct BwdConfigLarge<256> : BwdWarpTiles { static constexpr bool DEFINED = true; static constexpr int WARPS = 8, BC = 64, BR = 64, STAGES = 2; };

// bwd_pre and bwd_dq: one warp per row, ROWS rows per block.
struct RowConfig { static constexpr int WARPS = 4, ROWS = 16; };

}  // namespace flash
