/**
 * Compiling the kernels' headers for the host (g++ with cuda-host-shim.h beside them), so that unit tests can run their
 * integer arithmetic (tile and item orders, key and query ranges) on a machine without a GPU. Needs g++ and the CUDA
 * headers (cuda.h, cuda_fp16.h, cuda_bf16.h: the headers include them); the test skips where they are missing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const KERNELS = fileURLToPath(new URL('../../../kernels/', import.meta.url));
const SUPPORT = fileURLToPath(new URL('../../../tests/support/', import.meta.url));

function cudaIncludeDir(): string | undefined {
  const roots = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter((r): r is string => !!r);
  return roots.map((r) => join(r, 'include')).find((dir) => existsSync(join(dir, 'cuda.h')));
}

/**
 * The g++ include flags for the kernels' headers, or a reason to skip when g++ is missing, or the CUDA headers are and
 * `cudaHeaders` says the driver needs them (kernels/common's bwd_order.cuh does not).
 */
function hostCompiler(cudaHeaders: boolean): { includes: string[] } | { skip: string } {
  const cudaInclude = cudaIncludeDir();
  if (spawnSync('g++', ['--version'], { stdio: 'ignore' }).status !== 0 || (cudaHeaders && !cudaInclude)) {
    return {
      skip: `compiling the kernels' headers needs g++${cudaHeaders ? ' and the CUDA headers (cuda.h under CUDA_HOME, CUDA_PATH or /usr/local/cuda)' : ''}`,
    };
  }
  const includes = ['-I', SUPPORT, '-I', join(KERNELS, 'sm90'), '-I', join(KERNELS, 'common')];
  return { includes: cudaInclude ? [...includes, '-I', cudaInclude] : includes };
}

/** Compiles `driver` (C++17, -O1) with `includes`, runs it on `input` and returns its output; removes the build. */
function runHostDriver(includes: string[], driver: string, input: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flash-host-driver-'));
  try {
    const source = join(dir, 'driver.cpp');
    const binary = join(dir, 'driver');
    writeFileSync(source, driver);
    execFileSync('g++', ['-std=c++17', '-O1', ...includes, '-o', binary, source], { stdio: 'pipe' });
    return execFileSync(binary, { input, encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `driver` on `cases`, one line of numbers each, and asserts that it printed "ok" for every one (it prints the
 * first disagreement otherwise); `fields` names the numbers in the failure message.
 */
export function checkHostCases(
  t: TestContext, driver: string, cases: readonly (readonly number[])[], fields: string, { cudaHeaders = true } = {},
): void {
  const compiler = hostCompiler(cudaHeaders);
  if ('skip' in compiler) {
    t.skip(compiler.skip);
    return;
  }
  const lines = runHostDriver(compiler.includes, driver, cases.map((c) => c.join(' ')).join('\n')).trim().split('\n');
  assert.equal(lines.length, cases.length);
  lines.forEach((line, i) => assert.equal(line, 'ok', `${fields} = ${cases[i].join(', ')}`));
}
