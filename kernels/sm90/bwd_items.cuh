// The Hopper backward's persistent grid (bwd.cuh, bwd_wide.cuh): min(items, multiprocessors) blocks over the key_blocks
// * hk * n items of bwd_tiles.cuh's numbering (one item: BC keys of one (batch, kv head), what one block of the grid
// before B28 did). Block b starts with the b-th item in bwd_tiles.cuh's order (bwd_item_claimed), then claims the next
// unclaimed one from a global counter (FlashParams.tile_counter, zero at launch) once it has issued every copy of the
// current one, so the blocks that drew short items (under a causal mask) take more of them. The next item's K / V load
// as soon as the consumers' last product of the current item that reads them is done, while they store its dK / dV;
// with a block per item they loaded only once the block before it on the SM had ended and the next had started
// (bench/NOTES.md BT1: fill, drain and the gap between blocks were ~26% of a block at d = 64, l = 512; B28, B29 for
// what looping gained). Thread 0 of the producer warpgroup claims the items and hands them to the consumers through two
// slots in shared memory (a number past the last item ends them), and each step's (query head, rows, batch) to the row
// lanes through a record per stage (an ending record ends them).
#pragma once
#include "bwd_tiles.cuh"

namespace flash90 {

// The block's barriers and slots, before any item is known.
template <class F>
__device__ __forceinline__ BwdBlock<F> bwd_window() {
  BwdBlock<F> w{};
  w.base = bwd_window_base<F>();
  return w;
}

// Items of the call: BC keys of one (batch, kv head) each.
template <class F>
__device__ __forceinline__ int bwd_item_count(const FlashParams& p) {
  return bwd_key_blocks<F>(p) * p.hk * p.n;
}

// A consumer thread's walk over the block's items: each in turn as a BwdBlock, with the step number it starts from
// and its K / V use (which buffer, which phase) as the producer's slot gives them (the consumers then carry no count
// across items: the d = 256 consumer spilled with them).
template <class F, class Each>
__device__ __forceinline__ void bwd_items_read(const FlashParams& p, Each each) {
  const BwdBlock<F> w = bwd_window<F>();
  for (int k = 0;; ++k) {
    mbar_wait(w.item_full(k & 1), (k >> 1) & 1);
    const uint4 slot = flash::ld_shared_128(w.item_slot(k & 1));  // item, step0, kv_use
    mbar_arrive(w.item_empty(k & 1));
    if (int(slot.x) >= bwd_item_count<F>(p)) return;
    each(bwd_item<F>(p, int(slot.x), int(slot.y), int(slot.z)));
  }
}

// Thread 0 of the producer warpgroup: claims each item, hands it over, and issues its copies (posting each step's
// record for the row lanes); at the end a record that ends the row lanes.
template <class F>
__device__ __forceinline__ void bwd_items_produce(const BwdArgs& args) {
  const BwdBlock<F> w = bwd_window<F>();
  const int count = bwd_item_count<F>(args.p);
  int step = 0, kv_uses = 0;
  for (int k = 0, t = blockIdx.x;; ++k) {
    const int item = t < count ? bwd_item_claimed(args.p, t, bwd_key_blocks<F>(args.p)) : t;
    mbar_wait(w.item_empty(k & 1), ((k >> 1) & 1) ^ 1);
    flash::st_shared_128(w.item_slot(k & 1), make_uint4(uint32_t(item), uint32_t(step), uint32_t(kv_uses), 0u));
    mbar_arrive(w.item_full(k & 1));  // release: the slot's store is seen by whoever waits on this phase
    if (t >= count) break;
    const BwdBlock<F> blk = bwd_item<F>(args.p, item, step, kv_uses);
    if (blk.steps > 0) {
      bwd_producer_tiles<F>(args, blk);
      step += blk.steps;
      ++kv_uses;
    }
    t = int(gridDim.x + atomicAdd(reinterpret_cast<unsigned int*>(args.p.tile_counter), 1u));
  }
  const int s = step % F::STAGES;
  mbar_wait(w.empty(s), ((step / F::STAGES) & 1) ^ 1);  // the record's last reader is done with it
  flash::st_shared_128(w.step_record(s), make_uint4(0u, 0u, 0u, 1u));
  mbar_arrive(w.posted(s));
}

// The row lanes (ROW_LANES lanes of the producer warpgroup from warp 1 on): each step's lse (in log2 units; +inf
// where P must be 0) and D rows, for the step the producer thread posted on the stage, until the ending record.
// Each lane arrives on the stage's full barrier after its stores (arrive releases them to the consumers' wait).
// The lanes read no items: under the producer's 24 registers, walking the items' steps themselves spilled.
template <class F>
__device__ __forceinline__ void bwd_items_rows(const FlashParams& p, int lane) {
  constexpr float LOG2E = 1.4426950408889634f;
  const BwdBlock<F> w = bwd_window<F>();
  for (int gs = 0;; ++gs) {
    const int s = gs % F::STAGES;
    mbar_wait(w.posted(s), (gs / F::STAGES) & 1);
    const uint4 rec = flash::ld_shared_128(w.step_record(s));  // query head, first row, batch, end
    if (rec.w != 0) return;
    const int i0 = int(rec.y);
    const int64_t at0 = (int64_t(rec.z) * p.h + int(rec.x)) * p.lq;
    for (int r = lane; r < F::BR; r += F::ROW_LANES) {
      const int row = i0 + r;
      const float l = row < p.lq ? reinterpret_cast<const float*>(p.lse)[at0 + row] : -INFINITY;
      const float dv = row < p.lq ? reinterpret_cast<const float*>(p.softmax_d)[at0 + row] : 0.f;
      flash::st_shared_32(w.base + F::OFF_LSE + 4u * (s * F::BR + r), __float_as_uint(l == -INFINITY ? INFINITY : l * LOG2E));
      flash::st_shared_32(w.base + F::OFF_DVEC + 4u * (s * F::BR + r), __float_as_uint(dv));
    }
    mbar_arrive(w.full(s));
  }
}

// A whole persistent block: barriers, then warpgroup 0 produces (thread 0 the tiles, the row lanes the lse and D
// rows) and the consumer warpgroups run `consume(blk)` per item with CONSUMER_REGS registers each. The consumers'
// last TMA reductions are waited for before the block ends (they read its shared memory).
template <class F, class Consume>
__device__ __forceinline__ void bwd_items_run(const BwdArgs& args, Consume consume) {
  bwd_barriers_init<F>(bwd_window<F>());
  if (threadIdx.x < 128) {
    regs_decrease<F::PRODUCER_REGS>();
    if (threadIdx.x == 0) {
      prefetch_tensor_map(&args.q);
      prefetch_tensor_map(&args.k);
      prefetch_tensor_map(&args.v);
      prefetch_tensor_map(&args.dout);
      if (args.p.dq_accum != 0) prefetch_tensor_map(&args.dq_accum);
      bwd_items_produce<F>(args);
    } else if (threadIdx.x >= 32 && threadIdx.x < 32 + F::ROW_LANES) {
      bwd_items_rows<F>(args.p, threadIdx.x - 32);
    }
  } else {
    regs_increase<F::CONSUMER_REGS>();
    bwd_items_read<F>(args.p, consume);
    if ((threadIdx.x & 31) == 0) bulk_wait_group<0>();
  }
}

}  // namespace flash90
