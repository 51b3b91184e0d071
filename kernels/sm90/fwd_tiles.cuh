// The Hopper forward's shapes (fwd.cuh has the code of its roles): its parameter, each head dim's configuration and
// shared-memory layout, and the persistent grid's tiles in the order the blocks claim them.
#pragma once
#include <cuda.h>
#include "params.h"
#include "../common/mask.cuh"
#include "epilogue.cuh"
#include "ptx90.cuh"

namespace flash90 {

// The kernel's one parameter: the tensor maps TMA reads and writes through (built on the host for this call's
// q, k, v, o; float32 o, which the warps store, still has its map) and the shared FlashParams.
struct FwdArgs {
  CUtensorMap q;  // [n][h][lq][d] view of q: box of 64 columns x 128 rows
  CUtensorMap k;  // [n][hk][lk][d] view of k: box of 64 columns x BC rows
  CUtensorMap v;  // same for v
  CUtensorMap o;  // [n][h][lq][d] view of o: box of 64 columns x O_BOX_ROWS rows (written by TMA where STAGED_O)
  FlashParams p;
};

// Per head dim: consumer warpgroups (64 query rows each) and key-block width BC. BC columns of S plus D columns of
// O must fit a consumer thread's registers (232 with two consumers, 160 with three). d = 64 takes three consumers
// (192 query rows per K/V tile): +4-13% at l >= 8k over two consumers with BC = 128 (bench/NOTES.md H6), and with
// BC = 128 rather than 96 (whole key blocks at l = 512, 1024; S, P and O still fit 160 registers without spills):
// +4-14% non-causal, -2..+12% causal (F3).
template <int D> struct FwdConfig90;
template <> struct FwdConfig90<64>  { static constexpr int CONSUMERS = 3, BC = 128, STAGES = 2; };
// d = 128 with 176-key blocks (FlashAttention-3's non-causal choice): -1..+5% non-causal, -1..+11% causal over 128
// (F4); 192 spills.
template <> struct FwdConfig90<128> { static constexpr int CONSUMERS = 2, BC = 176, STAGES = 2; };
template <> struct FwdConfig90<192> { static constexpr int CONSUMERS = 2, BC = 96,  STAGES = 2; };
// d = 256 with 80-key blocks (FlashAttention-3's choice; they spilled until the descriptors were built once per tile,
// K1): +3..+22% over 64 (F5). Two stages of 80 keys fill shared memory (230.5 KB).
template <> struct FwdConfig90<256> { static constexpr int CONSUMERS = 2, BC = 80,  STAGES = 2; };

template <int D>
struct Fwd90 {
  static constexpr int CONSUMERS = FwdConfig90<D>::CONSUMERS, BC = FwdConfig90<D>::BC, STAGES = FwdConfig90<D>::STAGES;
  // Warpgroup 0 produces; the consumer warpgroups follow it.
  static constexpr int BR = 64 * CONSUMERS, CONSUMER_THREADS = 128 * CONSUMERS, THREADS = 128 + CONSUMER_THREADS;
  static constexpr int BANDS = D / 64;  // 64-column (128-byte) bands: one TMA box each
  static constexpr int Q_BYTES = BR * D * 2, KV_BYTES = BC * D * 2;
  static constexpr int Q_BAND = BR * 128, KV_BAND = BC * 128;  // bytes per band of a tile
  // Barriers after the tiles: q_full, q_empty, tile_full[2], tile_empty[2], then per stage k_full, k_empty, v_full,
  // v_empty; then two slots in which the producer hands the consumers tile numbers.
  static constexpr int BARRIERS_OFFSET = Q_BYTES + 2 * STAGES * KV_BYTES;
  static constexpr int BARRIERS = 6 + 4 * STAGES;
  static constexpr int SLOTS_OFFSET = BARRIERS_OFFSET + BARRIERS * 8;
  // Then, where shared memory allows (not at d = 256), one stage per consumer warp from which a TMA store writes O,
  // 64 columns at a time (epilogue.cuh), each stage on 1024 bytes: its layout is then TMA's 128-byte swizzle. The
  // warps go on at once, where their own whole-line stores from the stage held them ~2000 cycles a tile at d = 128
  // (bench/NOTES.md T2, F15).
  static constexpr int O_STAGE_BYTES = staged_rows_bytes<8>();
  static constexpr int O_STAGES_OFFSET = (SLOTS_OFFSET + 2 * 4 + 1023) / 1024 * 1024;
  static constexpr int O_STAGES_END = O_STAGES_OFFSET + (CONSUMER_THREADS / 32) * O_STAGE_BYTES;
  // + 1024: the dynamic shared window is aligned up to 1024 bytes (the swizzle atom) inside the kernel.
  static constexpr bool STAGED_O = O_STAGES_END + 1024 <= MAX_SMEM_BYTES;
  static constexpr int SMEM_BYTES = (STAGED_O ? O_STAGES_END : SLOTS_OFFSET + 2 * 4) + 1024;
  // A tile's O is stored during the warpgroup's first product of its next tile only where it leaves from registers
  // (d = 256, fwd_store_packed): +3-7% at l <= 1k and causal (bench/NOTES.md F11), and with 16-byte stores (F13) up to
  // +20% more. The staged stores, deferred, cost 1-2% at d = 64 (they then meet the S product's operand reads in
  // shared memory), and quad stores from registers in their place lost 0.8% at d = 64 / 128 (F14).
  static constexpr bool DEFER_O = !STAGED_O;
  // Registers per thread after setmaxnreg (multiples of 8): the producer keeps 32 (at 24 it spilled 4 bytes at
  // d = 256 once it claimed tiles from the counter, and at d = 64 once it ordered them), the consumers share the rest
  // (with three consumers, 160 each: the register file exactly). ptxas compiles
  // each role's branch under its own budget (with one budget for all, at 168 registers, d = 128 spilled 260 bytes);
  // a consumer must fit S (BC / 2), the previous P (BC / 4) and O (D / 2) at once.
  static constexpr int PRODUCER_REGS = 32, CONSUMER_REGS = CONSUMERS == 2 ? 232 : 160;
  // setmaxnreg.inc only hands out what .dec gave back inside the block, so the budgets must fit what the block
  // starts with: the register file over THREADS threads, in steps of 8 per thread.
  static_assert(PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= 65536 / THREADS / 8 * 8 * THREADS,
                "register budget");
  static_assert(D % 64 == 0, "the Hopper forward handles head dims that are multiples of 64");
  static_assert(BC % 16 == 0 && BC <= 256, "BC must be a wgmma N");
  static_assert(O_STAGE_BYTES % 1024 == 0, "each O stage on the 128-byte swizzle's 1024-byte period");
  static_assert(SMEM_BYTES <= MAX_SMEM_BYTES, "the most shared memory a block may have on sm_90");
};

// Rows of a box of the o map: one warp's rows of the accumulator. The host encodes the map (describe.cu's
// outBoxRows) whether or not the kernel stores through it.
constexpr int O_BOX_ROWS = 16;

extern __shared__ __align__(1024) uint8_t flash90_smem[];

// Where a block's buffers and barriers live (the same for every tile it takes); shared by both roles.
template <int D>
struct FwdSmem {
  uint32_t sQ, sK, sV, bar;
  __device__ __forceinline__ uint32_t q_full() const { return bar; }
  __device__ __forceinline__ uint32_t q_empty() const { return bar + 8u; }
  __device__ __forceinline__ uint32_t tile_full(int i) const { return bar + 8u * (2 + i); }
  __device__ __forceinline__ uint32_t tile_empty(int i) const { return bar + 8u * (4 + i); }
  __device__ __forceinline__ uint32_t k_full(int s) const { return bar + 8u * (6 + 4 * s); }
  __device__ __forceinline__ uint32_t k_empty(int s) const { return bar + 8u * (7 + 4 * s); }
  __device__ __forceinline__ uint32_t v_full(int s) const { return bar + 8u * (8 + 4 * s); }
  __device__ __forceinline__ uint32_t v_empty(int s) const { return bar + 8u * (9 + 4 * s); }
  __device__ __forceinline__ uint32_t tile_slot(int i) const { return bar + (Fwd90<D>::SLOTS_OFFSET - Fwd90<D>::BARRIERS_OFFSET) + 4u * i; }
};

// One tile: query rows [i0, i_last] of one (batch, head) and the key blocks [nb_first, nb_last] they may see
// (none when nb_first > nb_last: the rows see no key, and get o = 0, lse = -inf). Tiles are aligned to the last
// query row, so where BR does not divide lq the partial tile is the first one and i0 < 0: its rows before 0 are
// zeros from TMA's out-of-bounds fill, computed and never stored. i_first = max(i0, 0) is its first real row.
struct FwdTile {
  int head, b, kh, i0, i_first, i_last, nb_first, nb_last;
  __device__ __forceinline__ bool has_keys() const { return nb_first <= nb_last; }
};

// The tiles of a call and their order: (batch, head) major, and within one the highest query block first (the
// longest under a causal mask, which is aligned to the bottom right like the tiles: the partial tile, the first,
// then sees the fewest keys; aligned to the top it would be the last and see them all). The
// host refuses a call of 2^31 tiles or more (launchGrid), so tile numbers are 32-bit (claims past the last tile
// stop below 2^31 + 2 * gridDim.x).
//
// Under a right mask edge (causal), where a head's first tiles are its longest, the tiles of the last (batch, head)s,
// about two waves of the grid, go query-block-major instead: every such head's first (longest) tile, then every one's
// second, and so on, so that the grid ends on the shortest tiles of several heads rather than on one head's tiles of
// every length: causal +0.8..+13.8% at l <= 8k (bench/NOTES.md F18). Without a mask the tiles are alike (but for
// d = 64's partial first tile) and the order stays (batch, head)-major, which keeps fewer heads' K and V in L2 at once
// (reordered, d = 256 measured up to 7% slower); under a left edge alone a head's first tiles are its shortest, so
// this order would end the grid on long ones.
template <int D>
struct FwdTiles {
  using F = Fwd90<D>;
  static constexpr int TAIL_WAVES = 2;
  int q_blocks, count;
  __device__ __forceinline__ explicit FwdTiles(const FlashParams& p)
      : q_blocks((p.lq + F::BR - 1) / F::BR), count(p.n * p.h * q_blocks) {}
  // The claim order above: the number, in (batch, head)-major order, of the t-th tile claimed (t < count). Only the
  // producer asks (it hands the consumers this number), so the consumers keep no registers for it.
  __device__ __forceinline__ int claimed(const FlashParams& p, int t) const {
    if (p.window_right < 0) return t;
    const int heads = p.n * p.h;
    const int tail_heads = min(heads, int((TAIL_WAVES * gridDim.x + q_blocks - 1) / q_blocks));
    const int tail_first = (heads - tail_heads) * q_blocks;
    if (t < tail_first) return t;
    const int qb = (t - tail_first) / tail_heads;
    return (heads - tail_heads + (t - tail_first - qb * tail_heads)) * q_blocks + qb;
  }
  // The tile of (batch, head)-major number u.
  __device__ __forceinline__ FwdTile at(const FlashParams& p, int u) const {
    FwdTile tile;
    const int bh = u / q_blocks;
    tile.head = bh % p.h;
    tile.b = bh / p.h;
    tile.kh = tile.head / (p.h / p.hk);
    tile.i_last = p.lq - 1 - (u - bh * q_blocks) * F::BR;
    tile.i0 = tile.i_last + 1 - F::BR;
    tile.i_first = max(tile.i0, 0);
    int64_t j_lo, j_hi;
    flash::Mask(p).keys_for(tile.i_first, tile.i_last, &j_lo, &j_hi);
    tile.nb_first = int(j_lo / F::BC);
    tile.nb_last = j_hi >= j_lo ? int(j_hi / F::BC) : tile.nb_first - 1;
    return tile;
  }
};

}  // namespace flash90
