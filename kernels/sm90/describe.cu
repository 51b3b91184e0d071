// Host-only program run by scripts/build-kernels.mjs: prints the launch shape of every sm_90a kernel variant as
// JSON lines, from the config structs the kernels compile with (see ../sm80/describe.cu).
#include <cstdio>
#include "fwd.cuh"

template <int D>
static void describe() {
  using F = flash90::Fwd90<D>;
  std::printf("{\"phase\":\"fwd\",\"name\":\"fwd90\",\"arch\":\"sm_90a\",\"headDim\":%d,\"threads\":%d,\"smemBytes\":%d,"
              "\"tileRows\":%d,\"keyTileRows\":%d,\"gridRows\":\"lq\",\"gridHeads\":\"h\"}\n",
              D, F::THREADS, F::SMEM_BYTES, F::BR, F::BC);
}

int main() {
  describe<64>();
  describe<128>();
  describe<192>();
  describe<256>();
  return 0;
}
