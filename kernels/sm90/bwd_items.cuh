// The Hopper backward's persistent grid (bwd.cuh, bwd_wide.cuh): min(items, multiprocessors) blocks (those a paced
// bwd_pre_side leaves, beside one: FlashParams.pace_grid, src/backend/cuda/backward.ts) over the key_blocks
// * hk * n items of bwd_tiles.cuh's numbering (one item: BC keys of one (batch, kv head), what one block of the grid
// before B28 did). Block b starts with the b-th item in BwdOrder (kernels/common/bwd_order.cuh), then claims the next
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
#include "../common/ready_rows.cuh"
#include "../common/softmax_consts.cuh"

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

// FlashParams.dq_done (n * hk counters that bwd_pre zeroes): each item of a (batch, kv head) is counted once its
// writes (its dQ reductions into dq_accum, its dK and dV) are complete, so that bwd_dq, launched while this kernel runs
// (programmatic dependent launch), converts each group's rows as soon as its count reaches FlashParams.dq_done_whole
// (its key blocks), and whatever waits for bwd_dq's end sees this kernel's writes through the counts. A count is a
// release add at GPU scope, which stalls the thread that issues it (~3% at l = 512 when the consumer lanes issued it:
// bench/NOTES.md Q5), so the producer warpgroup's idle warp 3 issues the adds and the consumers never wait for it.
// Rounds of count_full[2], each completed by lane 0 of every consumer warp (a release at CTA scope that warp 3's wait
// acquires): at the end of an item with steps, for the previous item with steps (its reductions are complete then: a
// warp commits one bulk group per block of dQ it adds, and all but the last step's F::DQ_GROUPS_LAST_STEP are waited
// for; its dK / dV stores are ordered by this item's barriers: the d = 256 layout's named barriers, the d <= 128
// layout's dS barriers, on which every consumer thread waits after its previous item's stores); at the end of an item
// without steps, for that item (after a named barrier over the consumers: it has only dK / dV stores); at the block's
// end, for the last item with steps (after all reductions and a named barrier). Warp 3 reads the item slots as the
// consumers do (item_empty counts it), so it knows each item's group and steps and which round completes at the end of
// which item; it waits for that round before it frees the item's slot, so the producer cannot hand over the item after
// the next (whose end completes the round after next) until warp 3 has read this round: count_full's two phases never
// run two rounds ahead of it. The consumers' barriers inside every item that ends a round (named barriers at d = 256,
// the dS barriers at d <= 128) keep each consumer warp within one round of the others.
template <class F>
struct DqCount {
  static constexpr int WARPS = F::CONSUMER_THREADS / 32;
  static constexpr int OFF_FULL = 8 * WARPS, BYTES = OFF_FULL + 16;  // per warp: pending flag, round; count_full[2]
  uint32_t at;
  __device__ __forceinline__ explicit DqCount(uint32_t base) : at(base + F::OFF_COUNT) {}
  __device__ __forceinline__ uint32_t pending(int warp) const { return at + 8u * warp; }
  __device__ __forceinline__ uint32_t round(int warp) const { return at + 8u * warp + 4u; }
  __device__ __forceinline__ uint32_t full(uint32_t k) const { return at + OFF_FULL + 8u * (k & 1); }
  static __device__ __forceinline__ void init(uint32_t base) {
    const DqCount c(base);
    for (int k = 0; k < 2; ++k) mbar_init(c.full(k), WARPS);
  }
  // Lane 0 of consumer warp `warp`: this warp's part of the next round.
  __device__ __forceinline__ void arrive(int warp) const {
    const uint32_t k = flash::ld_shared_32(round(warp));
    flash::st_shared_32(round(warp), k + 1);
    mbar_arrive(full(k));  // release (CTA scope), acquired by warp 3's wait
  }
  // Lane 0 of consumer warp `warp`: its reductions of the pending item are complete (waited for by the caller).
  __device__ __forceinline__ void release_pending(int warp) const {
    if (flash::ld_shared_32(pending(warp)) == 0u) return;
    fence_proxy_async_global();  // the completed reductions (async proxy) before the arrival's release
    arrive(warp);
  }
};

// Lane 0 of consumer warp `warp` after an item with steps.
template <class F>
__device__ __forceinline__ void count_dq_items(uint32_t base, int warp) {
  const DqCount<F> c(base);
  bulk_wait_group<F::DQ_GROUPS_LAST_STEP>();
  c.release_pending(warp);
  flash::st_shared_32(c.pending(warp), 1u);
}
// Every consumer thread after an item without steps: its dK / dV zeros stored, the item's round.
template <class F>
__device__ __forceinline__ void count_dq_item_without_steps(uint32_t base, int warp) {
  named_sync(F::EPILOGUE, F::CONSUMER_THREADS);
  if ((threadIdx.x & 31) == 0) DqCount<F>(base).arrive(warp);
}
// Every consumer thread at the block's end: after lane 0's wait for all its reductions, the last item's round.
template <class F>
__device__ __forceinline__ void count_dq_items_end(int warp) {
  named_sync(F::EPILOGUE, F::CONSUMER_THREADS);
  if ((threadIdx.x & 31) == 0) DqCount<F>(bwd_window<F>().base).release_pending(warp);
}
__device__ __forceinline__ void red_release_gpu_add(uint32_t* addr, uint32_t v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;\n" ::"l"(addr), "r"(v) : "memory");
}
// Lane 0 of the producer warpgroup's warp 3: one release add per item (its group's counter). It reads every slot
// (item_empty counts it) even when nothing is counted (no counters, or no dq_accum: the deterministic backward).
template <class F>
__device__ __forceinline__ void count_dq_releases(const FlashParams& p) {
  const BwdBlock<F> w = bwd_window<F>();
  const DqCount<F> c(w.base);
  uint32_t* counters = reinterpret_cast<uint32_t*>(p.dq_done);
  const bool counting = p.dq_done != 0 && p.dq_accum != 0;
  int pending = -1;  // the group of the last item with steps, not yet counted
  uint32_t r = 0;
  for (int k = 0;; ++k) {
    mbar_wait(w.item_full(k & 1), (k >> 1) & 1);
    const uint4 slot = flash::ld_shared_128(w.item_slot(k & 1));  // item, step0, kv_use
    const bool more = int(slot.x) < bwd_item_count<F>(p);
    const BwdBlock<F> blk = more ? bwd_item<F>(p, int(slot.x), int(slot.y), int(slot.z)) : w;
    const int group = more ? blk.b * p.hk + blk.kh : -1;
    // The item whose round completes at the end of this item (or of the block): the pending one, or this one.
    const int counted = !counting ? -1 : (!more || blk.steps > 0) ? pending : group;
    if (counted >= 0) {
      mbar_wait(c.full(r), (r >> 1) & 1);  // acquire (CTA scope): what the eight warps released
      red_release_gpu_add(counters + counted, 1u);  // cumulative: covers the item's completed writes
      ++r;
    }
    mbar_arrive(w.item_empty(k & 1));
    if (!more) return;
    if (counting && blk.steps > 0) pending = group;  // (an item without steps leaves the pending one pending)
  }
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
    const BwdBlock<F> blk = bwd_item<F>(p, int(slot.x), int(slot.y), int(slot.z));
    each(blk);
    if constexpr (F::COUNTS_DQ_ITEMS) {  // after the item's dK / dV writes (DqCount above)
      if (p.dq_done != 0 && p.dq_accum != 0) {
        const int warp = (threadIdx.x - 128) / 32;
        if (blk.steps == 0) count_dq_item_without_steps<F>(blk.base, warp);
        else if ((threadIdx.x & 31) == 0) count_dq_items<F>(blk.base, warp);
      }
    }
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
    const int item = t < count ? BwdOrder(args.p, bwd_key_blocks<F>(args.p), int(gridDim.x)).claimed(t) : t;
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
  using flash::LOG2E;
  const BwdBlock<F> w = bwd_window<F>();
  for (int gs = 0;; ++gs) {
    const int s = gs % F::STAGES;
    mbar_wait(w.posted(s), (gs / F::STAGES) & 1);
    const uint4 rec = flash::ld_shared_128(w.step_record(s));  // query head, first row, batch, end
    if (rec.w != 0) return;
    const int i0 = int(rec.y);
    const int64_t at0 = (int64_t(rec.z) * p.h + int(rec.x)) * p.lq;
    if constexpr (F::WAITS_FOR_READY_ROWS) {
      // The consumers see D and the zeros through the stage's full barrier, on which these lanes arrive after their
      // stores; their TMA reductions into dq_accum come after it, and bwd_pre_side fenced its zeros for the async
      // proxy.
      if (p.ready_rows != 0)
        flash::wait_for_ready_rows<F::READY_WAIT_CALLED>(p, int(rec.z) * p.h + int(rec.x), i0, min(i0 + F::BR, p.lq));
    }
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
  bwd_barriers_init<F>(bwd_window<F>(), F::WAITS_FOR_READY_ROWS && args.p.ready_rows != 0);
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
    } else if (threadIdx.x == 96) {
      if constexpr (F::COUNTS_DQ_ITEMS) {
        static_assert(32 + F::ROW_LANES <= 96, "warp 3 of the producer warpgroup is free to count the items");
        count_dq_releases<F>(args.p);
      }
    }
  } else {
    regs_increase<F::CONSUMER_REGS>();
    const int warp = (threadIdx.x - 128) / 32;
    if constexpr (F::COUNTS_DQ_ITEMS) {
      if ((threadIdx.x & 31) == 0) {
        const DqCount<F> c(bwd_window<F>().base);
        flash::st_shared_32(c.pending(warp), 0u);
        flash::st_shared_32(c.round(warp), 0u);
      }
    }
    bwd_items_read<F>(args.p, consume);
    if ((threadIdx.x & 31) == 0) bulk_wait_group<0>();
    if constexpr (F::COUNTS_DQ_ITEMS) {
      if (args.p.dq_done != 0 && args.p.dq_accum != 0) count_dq_items_end<F>(warp);
    }
  }
}

}  // namespace flash90
