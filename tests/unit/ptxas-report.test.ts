// scripts/ptxas-report.mjs reads `nvcc -Xptxas -v` into one record per function; scripts/build-kernels.mjs refuses a
// build whose kernels spill. A kernel that calls a not-inlined device function is followed in ptxas's output by that
// function's own "Function properties" block: its frame must not overwrite the kernel's (it did, hiding a spill).
import assert from 'node:assert/strict';
import { test } from 'node:test';

interface FunctionReport {
  entry: boolean;
  registers: number;
  spillStores: number;
  spillLoads: number;
  stack: number;
  staticSmem: number;
}
type Parse = (text: string) => Map<string, FunctionReport>;

const { parsePtxasReport } = (await import(new URL('../../../scripts/ptxas-report.mjs', import.meta.url).href)) as { parsePtxasReport: Parse };

const REPORT = `ptxas info    : Compiling entry function 'flash_side' for 'sm_80'
ptxas info    : Function properties for flash_side
    48 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads
ptxas info    : Used 64 registers, used 1 barriers, 48 bytes cumulative stack size, 520 bytes cmem[0]
ptxas info    : Compile time = 35.597 ms
ptxas info    : Function properties for _ZN5flash9pace_rowsEPKjii
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Compiling entry function 'flash_plain' for 'sm_80'
ptxas info    : Function properties for flash_plain
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 31 registers, used 0 barriers, 1024 bytes smem, 520 bytes cmem[0]
ptxas info    : Compiling entry function 'flash_side' for 'sm_90'
ptxas info    : Function properties for flash_side
    8 bytes stack frame, 4 bytes spill stores, 44 bytes spill loads
ptxas info    : Used 60 registers, used 1 barriers, 8 bytes cumulative stack size
ptxas info    : Function properties for _ZN5flash9pace_rowsEPKjii
    16 bytes stack frame, 12 bytes spill stores, 8 bytes spill loads
`;

test('parsePtxasReport: a called function\'s frame goes to that function, not to the kernel compiled before it', () => {
  const report = parsePtxasReport(REPORT);
  assert.deepEqual(report.get('flash_side'), { entry: true, registers: 64, spillStores: 40, spillLoads: 44, stack: 48, staticSmem: 0 });
  assert.deepEqual(report.get('flash_plain'), { entry: true, registers: 31, spillStores: 0, spillLoads: 0, stack: 0, staticSmem: 1024 });
  assert.deepEqual(report.get('_ZN5flash9pace_rowsEPKjii'), { entry: false, registers: 0, spillStores: 12, spillLoads: 8, stack: 16, staticSmem: 0 });
});
