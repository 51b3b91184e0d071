// Host-only program run by scripts/build-kernels.mjs: prints the launch shape of every sm_90a kernel variant as
// JSON lines, from the config structs the kernels compile with (see ../sm80/describe.cu).
#include <cstdio>
#include "fwd.cuh"
#include "bwd.cuh"
#include "bwd_wide.cuh"
#include "dq_det.cuh"

template <int D>
static void describe() {
  using F = flash90::Fwd90<D>;
  std::printf("{\"phase\":\"fwd\",\"name\":\"fwd90\",\"arch\":\"sm_90a\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,"
              "\"tileRows\":%d,\"keyTileRows\":%d,\"outBoxRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\","
              "\"persistent\":true}\n",
              D, F::THREADS, F::SMEM_BYTES, F::BR, F::BC, flash90::O_BOX_ROWS);
}

// The backward's main pass: one item per BC keys of a (batch, kv head), claimed by one block per multiprocessor
// (persistent); q and dout boxes of BR rows; dq_accum boxes of DQ_BOX_ROWS rows (one warp's rows of
// a dQ block, added by TMA reductions); waitsForReadyRows where it may run beside bwd_pre_side (params.h ready_rows).
template <class B>
static void describe_bwd() {
  constexpr int D = B::D;
  std::printf("{\"phase\":\"bwd\",\"name\":\"bwd90\",\"arch\":\"sm_90a\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,"
              "\"tileRows\":%d,\"keyTileRows\":%d,\"queryTileRows\":%d,\"dqBoxRows\":%d,\"gridRows\":\"lk\","
              "\"gridHeads\":\"hk\",\"persistent\":true,\"waitsForReadyRows\":%s}\n",
              D, B::THREADS, B::SMEM_BYTES, B::BC, B::BC, B::BR, flash90::DQ_BOX_ROWS,
              B::WAITS_FOR_READY_ROWS ? "true" : "false");
}

// The deterministic backward's dq pass (d = 64, 128, 256): a block per 128 (d = 256: 64) query rows of a (batch,
// head), reading through the main backward's tensor maps (the same box rows, which the host checks before it picks
// this kernel); computesD where it writes softmax_d itself (d = 64, 128), so that it runs before the main backward.
template <int D>
static void describe_dq_det() {
  using F = flash90::DqDet90<D>;
  std::printf("{\"phase\":\"bwd_dq_det\",\"name\":\"bwd_dq_det90\",\"arch\":\"sm_90a\",\"headDim\":%d,\"threads\":%d,"
              "\"smemBytes\":%d,\"tileRows\":%d,\"keyTileRows\":%d,\"queryTileRows\":%d,\"gridRows\":\"lq\","
              "\"gridHeads\":\"h\",\"computesD\":%s}\n",
              D, F::THREADS, F::SMEM_BYTES, F::BR, F::BC, F::Q_BOX_ROWS, F::COMPUTES_D ? "true" : "false");
}

int main() {
  describe<64>();
  describe<128>();
  describe<192>();
  describe<256>();
  describe_bwd<flash90::Bwd90<64>>();
  describe_bwd<flash90::Bwd90<128>>();
  describe_bwd<flash90::Bwd90Wide<256>>();
  describe_dq_det<64>();
  describe_dq_det<128>();
  describe_dq_det<256>();
  return 0;
}
