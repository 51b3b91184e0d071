// The order in which the Hopper backward's persistent blocks take their items (kernels/sm90/bwd_items.cuh), shared
// with bwd_pre_side, which paces itself by it (kernels/sm80/rows.cuh).
#pragma once
#include "params.h"

// The order in which the blocks take the items (block b the b-th first, then claimed in turn). Items are numbered
// (batch, kv head)-major, key blocks inside, and by default taken in that order, so the blocks running at once share
// each head's Q and dO in L2. Under a causal mask (or any right edge) the first key blocks of a head see the most
// queries, and head-major the last head's longest block starts near the end and runs on alone: a model of the
// dispatch put that tail at 5-8% of a causal backward at l = 1k-8k. There the key blocks go in chunks of KEY_CHUNK,
// (batch, head)-major inside a chunk: roughly longest first over the whole grid, with a chunk of blocks of each head at
// once. Measured (bench/NOTES.md B19, when each item was a block of its own): +3-7% at d = 128 / 256 for 103 key
// blocks per head or fewer, but -1-3% with 128 or more (l = 16k), where the model puts the tail under 1% and the
// chunks cost L2 sharing: hence head-major again from CHUNKED_BELOW key blocks per head.
// KEY_CHUNK was 4 until the persistent blocks' dQ traffic was priced (NOTES DQ-probe); a chunk's blocks of a head walk
// the same Q / dO rows a step or two apart, so wider chunks read each row from HBM fewer times: against 4, 16 measured
// +3-17% on the d = 128 / 256 causal rows of 1k-4k, 8 about half that, 32 the same as 16, 2 lost 10-30% (NOTES
// DQ-chunk).
// Where a head has at most TAILED_UPTO key blocks (one chunk or two of the old 4: at l = 512 a head's four 128-key
// blocks are one chunk, so the order was head-major), the items of the last heads, about TAIL_WAVES waves of the grid,
// go key-block-major after the chunks, as the forward's last tiles do (fwd_tiles.cuh): every such head's first
// (longest) key block, then every one's second, and so on, so that the grid ends on short items of several heads.
// Measured (B37): causal +3.0 / +2.3% at d = 64 / 128 and l = 512, +1.4 / +2.3% at 1024; with more key blocks, where
// the chunks already end the grid on short items, -3.7..+0.4% at d = 128 / 256 (d = 256 causal 4096 -3.7%), hence the
// bound.
constexpr int KEY_CHUNK = 16, CHUNKED_BELOW = 128, TAIL_WAVES = 2, TAILED_UPTO = 8;

// The order over a grid of `grid` blocks and key_blocks items per (batch, kv head). Both families use it: the Hopper
// main kernel to number what it claims, and bwd_pre_side (kernels/sm80/rows.cuh) to pace its rows by the main
// kernel's claims (first_claim), so it is computed from the main kernel's grid, not gridDim.
struct BwdOrder {
  int key_blocks, heads, tail_heads, body_heads;
  bool in_order;  // no right window, or long heads: item t is the t-th in (batch, kv head)-major order

  __device__ __forceinline__ BwdOrder(const FlashParams& p, int key_blocks_, int grid)
      : key_blocks(key_blocks_), heads(p.hk * p.n) {
    in_order = p.window_right < 0 || key_blocks >= CHUNKED_BELOW;
    tail_heads = in_order || key_blocks > TAILED_UPTO ? 0 : min(heads, (TAIL_WAVES * grid + key_blocks - 1) / key_blocks);
    body_heads = heads - tail_heads;
  }

  // The (batch, kv head)-major number of the item taken t-th (t < the item count). Only the producer thread asks: it
  // hands the consumers this number.
  __device__ __forceinline__ int claimed(int t) const {
    if (in_order) return t;
    const int body = body_heads * key_blocks;
    int key_block, bh;
    if (t < body) {
      // t / KEY_CHUNK / body_heads is t / (KEY_CHUNK * body_heads) without the product, which passes 2^31 - 1 from
      // 2^29 heads (t and the item count stay below 2^31: launchGrid refuses larger calls).
      const int chunk0 = t / KEY_CHUNK / body_heads * KEY_CHUNK, width = min(KEY_CHUNK, key_blocks - chunk0);
      const int inside = t - chunk0 * body_heads;
      bh = inside / width;
      key_block = chunk0 + (inside - bh * width);
    } else {
      key_block = (t - body) / tail_heads;
      bh = body_heads + (t - body - key_block * tail_heads);
    }
    return bh * key_blocks + key_block;
  }

  // The claim number of the first item of (batch, kv head) `group`, its key block 0: in chunk 0 of the body or in
  // the tail's first key-block round. No item of the group is claimed before it.
  __device__ __forceinline__ int first_claim(int group) const {
    if (in_order) return group * key_blocks;
    if (group < body_heads) return group * min(KEY_CHUNK, key_blocks);
    return body_heads * key_blocks + (group - body_heads);
  }
};
