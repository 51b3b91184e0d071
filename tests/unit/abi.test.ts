// The TypeScript mirrors of FlashParams and of the Hopper kernels' FwdArgs and BwdArgs (src/backend/cuda/abi.ts)
// must match kernels/common/params.h, kernels/sm90/fwd_tiles.cuh and bwd_tiles.cuh byte for byte: this compiles the headers
// (with the host compilers, and nvcc for the sm90 ones) and compares sizeof and every offsetof.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BWD90_ARGS_ALIGNMENT,
  BWD90_ARGS_OFFSETS,
  BWD90_ARGS_SIZE,
  BWD90_MAPS,
  FLASH_PARAMS_FIELDS,
  FLASH_PARAMS_OFFSETS,
  FLASH_PARAMS_SIZE,
  FWD90_ARGS_ALIGNMENT,
  FWD90_ARGS_OFFSETS,
  FWD90_ARGS_SIZE,
  FWD90_MAPS,
  packBwd90Args,
  packFlashParams,
  packFwd90Args,
  type FlashParams,
} from '../../src/backend/cuda/abi.js';
import { CU_TENSOR_MAP_BYTES } from '../../src/backend/cuda/driver.js';

const HEADER_DIR = fileURLToPath(new URL('../../../kernels/common/', import.meta.url));

/** Field names of struct FlashParams in declaration order, read from the header itself. */
function headerFieldNames(): string[] {
  const text = readFileSync(join(HEADER_DIR, 'params.h'), 'utf8');
  const body = /typedef struct FlashParams \{([\s\S]*?)\} FlashParams;/.exec(text);
  assert.ok(body, 'params.h: struct FlashParams not found');
  const withoutComments = body[1].replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  return [...withoutComments.matchAll(/\b(?:u?int\d+_t|float|double)\s+(\w+)\s*;/g)].map((m) => m[1]);
}

function hasCompiler(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Compiles a program printing sizeof and each offsetof with `compiler`; returns name -> offset. */
function layoutFrom(compiler: string, language: 'c' | 'c++'): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'flash-abi-'));
  try {
    const source = join(dir, language === 'c' ? 'layout.c' : 'layout.cpp');
    const lines = FLASH_PARAMS_FIELDS.map(
      ([name]) => `  printf("${name} %zu\\n", (size_t)offsetof(FlashParams, ${name}));`,
    );
    writeFileSync(
      source,
      [
        '#include <stddef.h>',
        '#include <stdio.h>',
        '#include "params.h"',
        'int main(void) {',
        '  printf("sizeof %zu\\n", sizeof(FlashParams));',
        ...lines,
        '  return 0;',
        '}',
      ].join('\n'),
    );
    const binary = join(dir, 'layout');
    execFileSync(compiler, ['-I', HEADER_DIR, '-o', binary, source], { stdio: 'pipe' });
    const output = execFileSync(binary, { encoding: 'utf8' });
    return new Map(
      output
        .trim()
        .split('\n')
        .map((line) => {
          const [name, value] = line.split(' ');
          return [name, Number(value)] as const;
        }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('abi.ts lists the fields of params.h, in order', () => {
  assert.deepEqual(
    FLASH_PARAMS_FIELDS.map(([name]) => name),
    headerFieldNames(),
  );
});

for (const [compiler, language] of [
  ['cc', 'c'],
  ['g++', 'c++'],
] as const) {
  test(`abi.ts offsets and size equal ${compiler}'s layout of params.h`, (t) => {
    if (!hasCompiler(compiler)) {
      t.skip(`${compiler} not found: the host compiler is needed to check the ABI`);
      return;
    }
    const layout = layoutFrom(compiler, language);
    assert.equal(FLASH_PARAMS_SIZE, layout.get('sizeof'), 'sizeof(FlashParams)');
    for (const [name] of FLASH_PARAMS_FIELDS) {
      assert.equal(FLASH_PARAMS_OFFSETS[name], layout.get(name), `offsetof(FlashParams, ${name})`);
    }
  });
}

test('packFlashParams writes each field at its offset, little-endian', () => {
  const values = Object.fromEntries(
    FLASH_PARAMS_FIELDS.map(([name, type], i) => [name, type === 'uint64' ? 0x1_0000_0000n * BigInt(i + 1) + 7n : i - 3]),
  ) as FlashParams;
  values.softmax_scale = 0.125;
  values.softmax_scale_log2 = -1.5;
  const bytes = packFlashParams(values);
  assert.equal(bytes.length, FLASH_PARAMS_SIZE);
  const view = new DataView(bytes.buffer);
  for (const [name, type] of FLASH_PARAMS_FIELDS) {
    const offset = FLASH_PARAMS_OFFSETS[name];
    const read = type === 'uint64' ? view.getBigUint64(offset, true) : type === 'int32' ? view.getInt32(offset, true) : view.getFloat32(offset, true);
    assert.equal(read, values[name], name);
  }
  assert.throws(() => packFlashParams({ ...values, lq: 2 ** 31 }), /lq: 2147483648 does not fit/);
});

// --- the Hopper kernels' parameters: flash90::FwdArgs (kernels/sm90/fwd_tiles.cuh), flash90::BwdArgs (bwd_tiles.cuh, through bwd.cuh) ---

const SM90_DIR = fileURLToPath(new URL('../../../kernels/sm90/', import.meta.url));

/** sizeof, alignof and the offsets of `flash90::<struct>` as nvcc lays it out (host side: the same struct the kernel gets). */
function sm90LayoutFromNvcc(header: string, struct: string, fields: readonly string[]): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'flash-abi90-'));
  try {
    const source = join(dir, 'layout90.cu');
    writeFileSync(
      source,
      [
        '#include <cstddef>',
        '#include <cstdio>',
        `#include "${header}"`,
        'int main() {',
        `  printf("sizeof %zu\\n", sizeof(flash90::${struct}));`,
        `  printf("alignof %zu\\n", alignof(flash90::${struct}));`,
        ...fields.map((name) => `  printf("${name} %zu\\n", offsetof(flash90::${struct}, ${name}));`),
        '  return 0;',
        '}',
      ].join('\n'),
    );
    const binary = join(dir, 'layout90');
    // The kernels' own flags (sm_90a: inline wgmma only assembles there); the program runs on the host.
    execFileSync('nvcc', ['-std=c++17', '-I', HEADER_DIR, '-I', SM90_DIR, '-gencode', 'arch=compute_90a,code=sm_90a', '-o', binary, source], { stdio: 'pipe' });
    const output = execFileSync(binary, { encoding: 'utf8' });
    return new Map(output.trim().split('\n').map((line) => [line.split(' ')[0], Number(line.split(' ')[1])] as const));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SM90_ARGS = [
  { header: 'fwd_tiles.cuh', struct: 'FwdArgs', maps: FWD90_MAPS, offsets: FWD90_ARGS_OFFSETS, size: FWD90_ARGS_SIZE, alignment: FWD90_ARGS_ALIGNMENT },
  { header: 'bwd.cuh', struct: 'BwdArgs', maps: BWD90_MAPS, offsets: BWD90_ARGS_OFFSETS, size: BWD90_ARGS_SIZE, alignment: BWD90_ARGS_ALIGNMENT },
] as const;

for (const args of SM90_ARGS) {
  test(`abi.ts's ${args.struct} offsets, size and alignment equal nvcc's layout of kernels/sm90/${args.header}`, (t) => {
    if (!hasCompiler('nvcc')) {
      t.skip(`nvcc not found: the CUDA compiler is needed to lay out ${args.header} (CUtensorMap comes from its cuda.h)`);
      return;
    }
    const fields = [...args.maps, 'p'] as const;
    const layout = sm90LayoutFromNvcc(args.header, args.struct, fields);
    assert.equal(args.size, layout.get('sizeof'), `sizeof(flash90::${args.struct})`);
    assert.equal(args.alignment, layout.get('alignof'), `alignof(flash90::${args.struct})`);
    const offsets: Readonly<Record<string, number>> = args.offsets;
    for (const name of fields) {
      assert.equal(offsets[name], layout.get(name), `offsetof(flash90::${args.struct}, ${name})`);
    }
  });
}

test('the Hopper parameters: maps of 128 bytes in order, then FlashParams, padded to 128 (768 and 896 bytes)', () => {
  assert.deepEqual([FWD90_ARGS_OFFSETS, FWD90_ARGS_SIZE], [{ q: 0, k: 128, v: 256, o: 384, p: 512 }, 768]);
  assert.deepEqual([BWD90_ARGS_OFFSETS, BWD90_ARGS_SIZE], [{ q: 0, k: 128, v: 256, dout: 384, dq_accum: 512, p: 640 }, 896]);
  assert.deepEqual([FWD90_ARGS_ALIGNMENT, BWD90_ARGS_ALIGNMENT], [128, 128]);
});

const numbered = () => Object.fromEntries(FLASH_PARAMS_FIELDS.map(([name, type], i) => [name, type === 'uint64' ? BigInt(i + 1) : i + 1])) as FlashParams;

test('packFwd90Args: the four maps at their offsets, then packFlashParams at p, zero padding to the size', () => {
  const values = numbered();
  const maps = {
    q: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(1),
    k: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(2),
    v: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(3),
    o: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(4),
  };
  const bytes = packFwd90Args(maps, values);
  assert.equal(bytes.length, FWD90_ARGS_SIZE);
  for (const name of FWD90_MAPS) {
    assert.deepEqual(bytes.subarray(FWD90_ARGS_OFFSETS[name], FWD90_ARGS_OFFSETS[name] + CU_TENSOR_MAP_BYTES), maps[name], name);
  }
  const p = FWD90_ARGS_OFFSETS.p;
  assert.deepEqual(bytes.subarray(p, p + FLASH_PARAMS_SIZE), packFlashParams(values));
  assert.ok(bytes.subarray(p + FLASH_PARAMS_SIZE).every((b) => b === 0), 'padding is zero');
  assert.throws(() => packFwd90Args({ ...maps, k: new Uint8Array(64) }, values), /packFwd90Args: the k map has 64 bytes/);
});

test('packBwd90Args: the five maps at their offsets (dq_accum last), then packFlashParams at p, zero padding to the size', () => {
  const values = numbered();
  const maps = {
    q: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(1),
    k: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(2),
    v: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(3),
    dout: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(4),
    dq_accum: new Uint8Array(CU_TENSOR_MAP_BYTES).fill(5),
  };
  const bytes = packBwd90Args(maps, values);
  assert.equal(bytes.length, BWD90_ARGS_SIZE);
  for (const name of BWD90_MAPS) {
    assert.deepEqual(bytes.subarray(BWD90_ARGS_OFFSETS[name], BWD90_ARGS_OFFSETS[name] + CU_TENSOR_MAP_BYTES), maps[name], name);
  }
  const p = BWD90_ARGS_OFFSETS.p;
  assert.deepEqual(bytes.subarray(p, p + FLASH_PARAMS_SIZE), packFlashParams(values));
  assert.ok(bytes.subarray(p + FLASH_PARAMS_SIZE).every((b) => b === 0), 'padding is zero');
  assert.throws(() => packBwd90Args({ ...maps, dout: new Uint8Array(127) }, values), /packBwd90Args: the dout map has 127 bytes, expected 128/);
});
