// What the two Hopper backward kernels (bwd.cuh: d <= 128, bwd_wide.cuh: d = 256) share: the kernel's parameter,
// one block's place in the problem and in shared memory, and the producer warpgroup that feeds the consumers.
//
// One item: keys [j0, j0 + BC) of one (batch, kv head); persistent blocks loop over items (bwd_items.cuh).
// Warpgroup 0 produces: one thread issues the TMA copies (K_j, V_j once; then Q_i and dO_i per step into
// STAGES-deep rings, or dO into its one buffer once it is free), and ROW_LANES lanes from warp 1 on copy the step's
// lse and D rows into shared memory. Steps walk every (query head of the GQA group, query block that can see these
// keys).
//
// A layout F gives: D, BR (query rows per step), BC (keys per block), STAGES, DO_STAGES (STAGES, or 1: one dO
// buffer that the consumers free early through the do_empty barrier, for layouts short of shared memory),
// ROW_LANES (producer lanes that copy lse and D rows), KV_BUFS (K / V buffers: 2 lets the next item's keys load
// during this item's steps), ALIGN_SLACK (1024, or 0 where the window must be 1024-aligned by the runtime),
// CONSUMER_THREADS, PRODUCER_REGS, KV_BYTES / KV_BAND and Q_BYTES / Q_BAND (a tile and one of its 64-column bands),
// and the offsets OFF_K, OFF_V (of buffer 0; buffer 1 at + 2 * KV_BYTES), OFF_Q, OFF_DO, OFF_LSE, OFF_DVEC,
// OFF_BARRIERS inside the 1024-aligned window (bwd_barrier_bytes<F>() from OFF_BARRIERS), and init_own_barriers(base)
// for any barriers of its own.
#pragma once
#include <cuda.h>
#include "params.h"
#include "../common/bwd_order.cuh"
#include "../common/mask.cuh"
#include "ptx90.cuh"

namespace flash90 {

// The kernel's one parameter: tensor maps over q, k, v and dout (TMA reads through them) and over dq_accum (TMA
// reductions add into it), and the FlashParams.
struct BwdArgs {
  CUtensorMap q;     // [n][h][lq][d] view of q: box of 64 columns x BR rows
  CUtensorMap k;     // [n][hk][lk][d] view of k: box of 64 columns x BC rows
  CUtensorMap v;     // same for v
  CUtensorMap dout;  // same as q, over dout
  // [n][h][lq][d] view of the float32 dq_accum: box of 32 columns x DQ_BOX_ROWS rows (one warp's rows of a dQ
  // block, 128 bytes wide: the 128-byte swizzle's width), which TMA reductions add into
  CUtensorMap dq_accum;
  FlashParams p;
};

extern __shared__ __align__(1024) uint8_t flash90_bwd_smem[];

// Where one block's tiles live, which keys it owns, and which (query head, query block) pairs its steps walk. A
// persistent block (bwd_items.cuh) takes one BwdBlock per item: step0 counts the steps of its earlier items (the
// stage rings and their barriers' phases run on across items), kv_buf is the K / V buffer of this item's keys (of
// KV_BUFS, in turn over the items with steps) and kv_parity the phase of that buffer's barriers for this use.
template <class F>
struct BwdBlock {
  int kh, b, j0, group, qb_first, blocks_per_head, steps, step0;
  int kv_buf;
  uint32_t base, kv_parity;
  __device__ __forceinline__ uint32_t sK() const { return base + F::OFF_K + kv_buf * 2 * F::KV_BYTES; }
  __device__ __forceinline__ uint32_t sV() const { return base + F::OFF_V + kv_buf * 2 * F::KV_BYTES; }
  // Step st's stage, and the parity of its full / empty barriers' phase.
  __device__ __forceinline__ int stage_of(int st) const { return (step0 + st) % F::STAGES; }
  __device__ __forceinline__ uint32_t phase_of(int st) const { return ((step0 + st) / F::STAGES) & 1; }
  __device__ __forceinline__ uint32_t sQ(int s) const { return base + F::OFF_Q + s * F::Q_BYTES; }
  __device__ __forceinline__ uint32_t sdO(int s) const { return base + F::OFF_DO + (s % F::DO_STAGES) * F::Q_BYTES; }
  __device__ __forceinline__ uint32_t bar(int i) const { return base + F::OFF_BARRIERS + 8u * i; }
  __device__ __forceinline__ uint32_t kv_full() const { return bar(kv_buf); }
  // The consumers have finished their last product that reads K / V (a persistent block's next item may load).
  __device__ __forceinline__ uint32_t kv_empty() const { return bar(F::KV_BUFS + kv_buf); }
  // The parity of the block's K / V use (items with steps, in turn), which kv_buf and kv_parity together name.
  __device__ __forceinline__ int kv_use_parity() const { return (kv_buf + int(kv_parity) * F::KV_BUFS) & 1; }
  __device__ __forceinline__ uint32_t full(int s) const { return bar(2 * F::KV_BUFS + 2 * s); }
  __device__ __forceinline__ uint32_t empty(int s) const { return bar(2 * F::KV_BUFS + 1 + 2 * s); }
  // With one dO buffer: the consumers have finished reading it (every step's dO waits for the last one's).
  __device__ __forceinline__ uint32_t do_empty() const { return bar(2 * F::KV_BUFS + 2 * F::STAGES); }
  // The persistent grid's hand-overs (bwd_items.cuh): item slot i is written (item_full) and read by every consumer
  // (item_empty); stage s's step record (query head, first row, batch) is written for the row lanes (posted).
  static constexpr int ITEM_BARS = 2 * F::KV_BUFS + 2 * F::STAGES + 1;
  static constexpr int SLOTS_AT = (ITEM_BARS + 4 + F::STAGES + 1) / 2 * 2;  // 16-byte aligned
  __device__ __forceinline__ uint32_t item_full(int i) const { return bar(ITEM_BARS + i); }
  __device__ __forceinline__ uint32_t item_empty(int i) const { return bar(ITEM_BARS + 2 + i); }
  __device__ __forceinline__ uint32_t posted(int s) const { return bar(ITEM_BARS + 4 + s); }
  __device__ __forceinline__ uint32_t item_slot(int i) const { return bar(SLOTS_AT) + 16u * i; }
  __device__ __forceinline__ uint32_t step_record(int s) const { return bar(SLOTS_AT) + 32u + 16u * s; }
  __device__ __forceinline__ uint8_t* window() const {
    return flash90_bwd_smem + (base - smem_addr(flash90_bwd_smem));
  }
  __device__ __forceinline__ float* lse(int s) const { return reinterpret_cast<float*>(window() + F::OFF_LSE) + s * F::BR; }
  __device__ __forceinline__ float* dvec(int s) const { return reinterpret_cast<float*>(window() + F::OFF_DVEC) + s * F::BR; }
  __device__ __forceinline__ int head_of(int st) const { return kh * group + st / blocks_per_head; }
  __device__ __forceinline__ int row_of(int st) const { return (qb_first + st % blocks_per_head) * F::BR; }
};

// Barriers in the window: kv_full[KV_BUFS], kv_empty[KV_BUFS]; per stage full, empty; do_empty (used where dO has
// one buffer); item_full[2], item_empty[2], posted[STAGES]; padding to 16 bytes; then the two 16-byte item slots
// and the 16-byte step records.
template <class F>
constexpr int bwd_barrier_bytes() {
  static_assert(F::DO_STAGES == F::STAGES || F::DO_STAGES == 1, "dO: one buffer per stage, or one");
  return BwdBlock<F>::SLOTS_AT * 8 + 32 + F::STAGES * 16;
}

// Thread 0 of the producer warpgroup: K_j and V_j once, then Q_i and dO_i per step as the consumers free stages
// and each step's record for the row lanes (bwd_items.cuh). K / V wait for the consumers to release them
// (kv_empty: after the previous item's last product that reads them).
template <class F>
__device__ __forceinline__ void bwd_producer_tiles(const BwdArgs& args, const BwdBlock<F>& blk) {
  mbar_wait(blk.kv_empty(), blk.kv_parity ^ 1);
  mbar_arrive_expect_tx(blk.kv_full(), 2 * F::KV_BYTES);
  for (int band = 0; band < F::D / 64; ++band) {
    tma_load_4d(blk.sK() + band * F::KV_BAND, &args.k, band * 64, blk.j0, blk.kh, blk.b, blk.kv_full());
    tma_load_4d(blk.sV() + band * F::KV_BAND, &args.v, band * 64, blk.j0, blk.kh, blk.b, blk.kv_full());
  }
  // The steps walked as (head, query block), without head_of / row_of's divisions: the producer has few registers.
  int st = 0;
  for (int hq = blk.kh * blk.group; hq < (blk.kh + 1) * blk.group; ++hq) {
    for (int i0 = blk.qb_first * F::BR; i0 < (blk.qb_first + blk.blocks_per_head) * F::BR; i0 += F::BR, ++st) {
      const int s = blk.stage_of(st);
      mbar_wait(blk.empty(s), blk.phase_of(st) ^ 1);
      flash::st_shared_128(blk.step_record(s), make_uint4(uint32_t(hq), uint32_t(i0), uint32_t(blk.b), 0u));
      mbar_arrive(blk.posted(s));  // release: the record is seen by the row lanes that wait on this phase
      mbar_arrive_expect_tx(blk.full(s), 2 * F::Q_BYTES);
      for (int band = 0; band < F::D / 64; ++band)
        tma_load_4d(blk.sQ(s) + band * F::Q_BAND, &args.q, band * 64, i0, hq, blk.b, blk.full(s));
      if constexpr (F::DO_STAGES < F::STAGES) mbar_wait(blk.do_empty(), ((blk.step0 + st) & 1) ^ 1);
      for (int band = 0; band < F::D / 64; ++band)
        tma_load_4d(blk.sdO(s) + band * F::Q_BAND, &args.dout, band * 64, i0, hq, blk.b, blk.full(s));
    }
  }
}

// dQ leaves the consumers through shared memory: each warp writes its 16 rows of a 64 x 64 float32 block to its own
// 4 KB stage (two boxes of 32 columns x 16 rows, 128-byte swizzle) and its lane 0 adds the boxes into dq_accum with
// TMA reductions, which the copy engine carries out while the warp goes on. One reduction per box replaces 256
// float32 pair atomics from the warp's threads (whose issue held the warps: bench/NOTES.md, end of session 6).
// Rows past lq and columns past d are outside the map and left out by TMA.
// The host encodes the map's box as one 128-byte row wide (src/backend/cuda/tma.ts) and takes its rows from the
// manifest (dqBoxRows, describe.cu). Each box of a stage must start on 1024 bytes (the 128-byte swizzle's period).
constexpr int DQ_BOX_ROWS = 16, DQ_BOX_COLS = 32, DQ_BOX_BYTES = DQ_BOX_ROWS * DQ_BOX_COLS * 4;
constexpr int DQ_WARP_STAGE_BYTES = 2 * DQ_BOX_BYTES;
static_assert(DQ_BOX_COLS * 4 == 128, "a dq_accum box row is the 128-byte swizzle's width, as the host encodes it");
static_assert(DQ_BOX_BYTES % 1024 == 0, "each box of a stage starts on the swizzle's 1024-byte period");

// This thread's share of a 64 x 64 float32 block of dQ in the accumulator layout (its warp's rows: g and g + 8 of
// the warp's 16, columns 8 nt + 2 t and + 1 for nt < 8) into the warp's stage at `stage` (1024-byte aligned).
// WAIT_FOR_STAGE: lane 0's previous reductions are waited for (they may still read this stage); without it the
// caller knows the stage is free. flush_dq_block then adds the stage into dq_accum.
template <bool WAIT_FOR_STAGE = true>
__device__ __forceinline__ void stage_dq_block(uint32_t stage, const float (&dq)[32], int lane) {
  const int g = lane >> 2, t = lane & 3;
  if (WAIT_FOR_STAGE) {
    if (lane == 0) bulk_wait_group_read<0>();
    __syncwarp();
  }
  // Box nt / 4, 16-byte chunk 2 (nt % 4) + t / 2 of row g + 8 r at chunk ^ g (row % 8 = g). A 64-bit store is
  // carried out a half-warp at a time and rows g and g ^ 1 fill the same 32-byte bank group, so a store takes four
  // wavefronts, not two (ncu on the d = 256 backward: 3.6-way conflicts on its shared stores). An order without the
  // conflicts (odd rows storing the pair two blocks over) measured no faster: bench/NOTES.md R6.
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int chunk = 2 * (nt % 4) + t / 2;
      flash::st_shared_f32x2(stage + (nt / 4) * DQ_BOX_BYTES + (g + 8 * r) * 128 + ((chunk ^ g) * 16) + (t & 1) * 8,
                             dq[4 * nt + 2 * r], dq[4 * nt + 2 * r + 1]);
    }
}

// The warp's staged block added into dq_accum at rows [row0, row0 + 16) of (b, hq), columns [col0, col0 + 64), by
// lane 0's TMA reductions. Every lane first fences its stores to the stage (the copy engine reads through the async
// proxy); the fence waits for them to complete.
__device__ __forceinline__ void flush_dq_block(const BwdArgs& args, uint32_t stage, int b, int hq, int row0, int col0,
                                               int lane) {
  fence_proxy_async_smem();
  __syncwarp();
  if (lane == 0) {
#pragma unroll
    for (int box = 0; box < 2; ++box)
      if (col0 + DQ_BOX_COLS * box < args.p.d)
        tma_reduce_add_4d(&args.dq_accum, stage + box * DQ_BOX_BYTES, col0 + DQ_BOX_COLS * box, row0, hq, b);
    bulk_commit_group();
  }
}

// Both: a block of dQ staged and added at once.
template <bool WAIT_FOR_STAGE = true>
__device__ __forceinline__ void reduce_dq_block(const BwdArgs& args, uint32_t stage, const float (&dq)[32], int b,
                                                int hq, int row0, int col0, int lane) {
  stage_dq_block<WAIT_FOR_STAGE>(stage, dq, lane);
  flush_dq_block(args, stage, b, hq, row0, col0, lane);
}

// The dynamic shared window, aligned up to 1024 bytes (the 128-byte swizzle's period).
// A layout without ALIGN_SLACK relies on the runtime placing the window on 1024 bytes (it has no room to align it)
// and traps if it does not, rather than run past its shared memory.
template <class F>
__device__ __forceinline__ uint32_t bwd_window_base() {
  const uint32_t at = smem_addr(flash90_bwd_smem);
  if (F::ALIGN_SLACK == 0 && (at & 1023u) != 0) __trap();
  return (at + 1023u) & ~1023u;
}

template <class F>
__device__ __forceinline__ int bwd_key_blocks(const FlashParams& p) {
  return (p.lk + F::BC - 1) / F::BC;
}

// The keys and steps of item `item` (its (batch, kv head)-major number), its steps numbered on from step0, its keys
// the kv_use-th K / V load of the block.
template <class F>
__device__ __forceinline__ BwdBlock<F> bwd_item(const FlashParams& p, int item, int step0, int kv_use) {
  BwdBlock<F> blk;
  const int key_blocks = bwd_key_blocks<F>(p), key_block = item % key_blocks;
  blk.kh = item / key_blocks % p.hk;
  blk.b = item / key_blocks / p.hk;
  blk.j0 = key_block * F::BC;
  blk.group = p.h / p.hk;
  int64_t i_lo, i_hi;
  flash::Mask(p).queries_for(blk.j0, min(blk.j0 + F::BC, p.lk) - 1, &i_lo, &i_hi);
  blk.qb_first = i_lo <= i_hi ? int(i_lo / F::BR) : 0;
  blk.blocks_per_head = i_lo <= i_hi ? int(i_hi / F::BR) - blk.qb_first + 1 : 0;
  blk.steps = blk.blocks_per_head * blk.group;
  blk.step0 = step0;
  blk.kv_buf = kv_use % F::KV_BUFS;
  blk.kv_parity = (kv_use / F::KV_BUFS) & 1;
  blk.base = bwd_window_base<F>();
  return blk;
}

// Thread 0 initializes the window's barriers (an item slot is read by the consumers; a step record by the row lanes,
// which arrive on the stage's full barrier), then the whole block meets and waits for the grid before it, unless
// `beside_grid`: the grid before is bwd_pre_side, which let this one start only once it had waited for the grid before
// it, and whose rows the row lanes wait for chunk by chunk instead (bwd_items.cuh).
template <class F>
__device__ __forceinline__ void bwd_barriers_init(const BwdBlock<F>& blk, bool beside_grid = false) {
  if (threadIdx.x == 0) {
    for (int i = 0; i < F::KV_BUFS; ++i) {
      mbar_init(blk.bar(i), 1);                                    // kv_full
      mbar_init(blk.bar(F::KV_BUFS + i), F::CONSUMER_THREADS);     // kv_empty
    }
    for (int s = 0; s < F::STAGES; ++s) {
      mbar_init(blk.full(s), 1 + F::ROW_LANES);  // the TMA thread's expect_tx arrival + the row lanes'
      mbar_init(blk.posted(s), 1);
      mbar_init(blk.empty(s), F::CONSUMER_THREADS);
    }
    mbar_init(blk.do_empty(), F::CONSUMER_THREADS);
    for (int i = 0; i < 2; ++i) {
      mbar_init(blk.item_full(i), 1);
      mbar_init(blk.item_empty(i), F::CONSUMER_THREADS + (F::COUNTS_DQ_ITEMS ? 1 : 0));  // + the counting thread
    }
    F::init_own_barriers(blk.base);
    fence_barrier_init();
  }
  __syncthreads();
  // Programmatic dependent launch (common/ptx.cuh): only the shared-memory set-up above overlaps the grid before.
  if (!beside_grid) flash::wait_for_previous_grid();
  flash::allow_next_grid();
}

}  // namespace flash90
