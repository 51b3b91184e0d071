// Host-only program run by scripts/build-kernels.mjs: prints the launch shape of every kernel variant as JSON
// lines, straight from the same config structs the kernels compile with, so the manifest cannot drift.
#include <cstdio>
#include "fwd.cuh"
#include "bwd.cuh"
#include "rows.cuh"
#include "dq.cuh"

template <int D>
static void describe() {
  using F = flash::Fwd<flash::BFloat16, D>;
  using B = flash::Bwd<flash::BFloat16, D, flash::BwdConfig<D>>;
  using BL = flash::Bwd<flash::BFloat16, D, flash::BwdConfigLarge<D>>;
  constexpr int ROW_THREADS = flash::RowConfig::WARPS * 32, ROWS = flash::RowConfig::ROWS;
  std::printf("{\"phase\":\"fwd\",\"name\":\"fwd\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,\"tileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\"}\n",
              D, F::THREADS, F::SMEM_BYTES, F::BR);
  std::printf("{\"phase\":\"bwd_pre\",\"name\":\"bwd_pre\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":0,\"tileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\"}\n",
              D, ROW_THREADS, ROWS);
  // bwd_pre_side: one block per MULTIPROCESSORS_PER_BLOCK multiprocessors (or per chunk, if fewer), each block
  // walking chunks of tileRows query rows (a ready flag each); paced (FlashParams.pace_grid), on pacedBlocks blocks.
  if (flash::SideRows::serves(D))
    std::printf("{\"phase\":\"bwd_pre_side\",\"name\":\"bwd_pre_side\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":0,\"tileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\",\"multiprocessorsPerBlock\":%d,\"pacedBlocks\":%d}\n",
                D, flash::SideRows::THREADS, flash::SideRows::rows(D), flash::SideRows::MULTIPROCESSORS_PER_BLOCK,
                flash::SideRows::PACED_BLOCKS);
  std::printf("{\"phase\":\"bwd\",\"name\":\"bwd\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,\"tileRows\":%d,\"gridRows\":\"lk\",\"gridHeads\":\"hk\"}\n",
              D, B::THREADS, B::SMEM_BYTES, B::BC);
  if (flash::BwdConfigLarge<D>::DEFINED)
    std::printf("{\"phase\":\"bwd\",\"name\":\"bwd_large\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,\"tileRows\":%d,\"gridRows\":\"lk\",\"gridHeads\":\"hk\"}\n",
                D, BL::THREADS, BL::SMEM_BYTES, BL::BC);
  // bwd_dq waitsForReadyRows: given ready_rows, it waits for the ready flags of its own rows too (rows.cuh).
  std::printf("{\"phase\":\"bwd_dq\",\"name\":\"bwd_dq\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":0,\"tileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\",\"waitsForReadyRows\":true}\n",
              D, ROW_THREADS, ROWS);
  using DQ = flash::Dq<flash::BFloat16, D>;
  std::printf("{\"phase\":\"bwd_dq_det\",\"name\":\"bwd_dq_det\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,\"tileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\"}\n",
              D, DQ::THREADS, DQ::SMEM_BYTES, DQ::BR);
}

int main() {
  describe<32>();
  describe<64>();
  describe<96>();
  describe<128>();
  describe<160>();
  describe<192>();
  describe<224>();
  describe<256>();
  return 0;
}
