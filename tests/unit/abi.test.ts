// The TypeScript mirror of FlashParams (src/backend/cuda/abi.ts) must match kernels/common/params.h byte
// for byte: this compiles the header with the host compilers and compares sizeof and every offsetof.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  FLASH_PARAMS_FIELDS,
  FLASH_PARAMS_OFFSETS,
  FLASH_PARAMS_SIZE,
  packFlashParams,
  type FlashParams,
} from '../../src/backend/cuda/abi.js';

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
