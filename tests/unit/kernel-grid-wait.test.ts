// On compute capability 9.0 every kernel of the manifest is launched with programmatic dependent launch
// (src/backend/cuda/modules.ts), so it may start while the kernel before it still runs: each must execute
// griddepcontrol.wait before any access to global memory. This compiles the kernel units to sm_90 / sm_90a PTX with
// nvcc (skipped without it) and checks every entry: the wait comes before the first global or generic memory
// instruction in the text, and every thread runs it: it is unpredicated, with no branch or label between it and the
// entry's start or the block-wide barrier before it (the kernels put it right after their shared-memory set-up).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const KERNELS = fileURLToPath(new URL('../../../kernels/', import.meta.url));
const nvcc = spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
const out = mkdtempSync(join(tmpdir(), 'flash-grid-wait-'));
after(() => rmSync(out, { recursive: true, force: true }));

function ptxOf(source: string, arch: string, dtype: string, headDim: number): string {
  const file = join(out, `${arch}-${dtype}-${headDim}.ptx`);
  const ran = spawnSync(
    'nvcc',
    ['-std=c++17', '-O3', `-I${join(KERNELS, 'common')}`, `-DFLASH_DTYPE=${dtype}`, `-DFLASH_HEAD_DIM=${headDim}`, `-arch=${arch}`, '-ptx', '-o', file, join(KERNELS, source)],
    { encoding: 'utf8' },
  );
  assert.equal(ran.status, 0, `nvcc ${source} (${arch}, ${dtype}, d = ${headDim}): ${ran.stderr}`);
  return readFileSync(file, 'utf8');
}

/** Each entry's name and body (from `.entry name(` to the next entry or function, or the end). */
function entries(ptx: string): { name: string; body: string }[] {
  return ptx.split(/\.visible \.entry /).slice(1).map((part) => {
    const body = part.split(/^\.func /m)[0];
    return { name: part.slice(0, part.indexOf('(')), body };
  });
}

/** The bodies of the functions `body` calls (call.uni), from their definitions in `ptx` (not their declarations). */
function calledBodies(ptx: string, body: string): string[] {
  return [...body.matchAll(/\bcall(?:\.uni)?\s+([\w$]+)\s*,/g)].map(([, name]) => {
    const at = ptx.search(new RegExp(`^\\.func\\s+${name.replaceAll('$', '\\$')}\\([^)]*\\)\\s*\\{`, 'm'));
    assert.ok(at >= 0, `no definition of ${name}`);
    return ptx.slice(at).split(/^\.(?:visible \.entry|func) /m)[1];
  });
}

/** Memory instructions that may touch global memory: any state space but shared, param, local and const. */
const MEMORY_OP = /^\s*(?:@!?%p\d+\s+)?((?:ld|st|atom|red|cp\.async|cp\.reduce\.async|prefetch|multimem)\S*)/gm;
function touchesGlobal(opcode: string): boolean {
  return opcode.includes('.global') || !/\.(shared|param|local|const)\b/.test(opcode);
}

/**
 * bwd_dq given the Hopper backward's item counters (FlashParams.dq_done) does not wait for the main kernel: it waits
 * for its (batch, head)'s count with acquire loads (kernels/sm80/rows.cuh), which order the main kernel's writes of
 * that group before its reads. Its other path (no counters) waits as every kernel does, but behind the branch.
 */
const WAITS_ON_COUNTERS = /^flash_bwd_dq_(?!det)/;
const COUNTER_LOAD = /^ld\.acquire\.gpu\.global\./;
/**
 * The Hopper bwd given bwd_pre_side's ready flags (FlashParams.ready_rows) skips the wait (a branch around it): that
 * grid let it start only after waiting for the grid before it itself (kernels/sm90/bwd_tiles.cuh), and its row lanes
 * wait on each chunk's flag with acquire loads (bwd_items.cuh). Its other path waits as every kernel does.
 */
const WAITS_ON_READY_FLAGS = /^flash_bwd90_/;

/**
 * Whether `body` spins on an acquire load: a label, then a nanosleep and an ld.acquire.gpu.global.u32, then a branch
 * back to that label (how the counter and ready-flag waits compile), not merely an acquire load somewhere.
 */
function spinsOnAcquireLoad(body: string): boolean {
  for (const label of body.matchAll(/^(\$L\w+):$/gm)) {
    const from = label.index ?? 0;
    const back = body.slice(from).search(new RegExp(`\\bbra(?:\\.uni)?\\s+\\$${label[1].slice(1)};`));
    if (back < 0) continue;
    const loop = body.slice(from, from + back);
    if (loop.includes('nanosleep') && /^\s*ld\.acquire\.gpu\.global\.u32\s/m.test(loop)) return true;
  }
  return false;
}

function checkUnit(source: string, arch: string, dtype: string, headDim: number, expected: number, readyFlags = false): void {
  const ptx = ptxOf(source, arch, dtype, headDim);
  const found = entries(ptx);
  assert.equal(found.length, expected, `${source}: the entries this test expects (a new kernel needs the wait too)`);
  for (const { name, body } of found) {
    const wait = body.search(/^\s*griddepcontrol\.wait;/m);
    assert.ok(wait >= 0, `${name}: no unpredicated griddepcontrol.wait`);
    const counters = WAITS_ON_COUNTERS.test(name);
    const first = [...body.matchAll(MEMORY_OP)].find((m) => touchesGlobal(m[1]) && !(counters && COUNTER_LOAD.test(m[1])));
    assert.ok(first === undefined || (first.index ?? 0) > wait, `${name}: ${first?.[1]} before griddepcontrol.wait`);
    if (counters) {
      assert.ok(spinsOnAcquireLoad(body), `${name}: no spin on an acquire load of its group's counter`);
      continue;
    }
    if (WAITS_ON_READY_FLAGS.test(name) && readyFlags) {
      // Inline, or in a function it calls (the d = 64 row lanes call theirs: kernels/common/ready_rows.cuh).
      const spins = spinsOnAcquireLoad(body) || calledBodies(ptx, body).some(spinsOnAcquireLoad);
      assert.ok(spins, `${name}: no spin on an acquire load of the ready flags`);
      continue;
    }
    // Every thread reaches it: the code from the entry's start, or from the last block-wide barrier (which all
    // threads pass) before the wait, runs straight into it.
    const before = body.slice(body.indexOf('\n{\n'), wait);
    const barriers = [...before.matchAll(/^\s*(?:bar|barrier)\.sync\s+0;/gm)];
    const run = barriers.length > 0 ? before.slice((barriers.at(-1)?.index ?? 0) + 1) : before;
    assert.doesNotMatch(run, /^\s*(?:\$L\w*:|(?:@!?%p\d+\s+)?bra)/m, `${name}: a branch or label before its griddepcontrol.wait`);
  }
}

test('spinsOnAcquireLoad: a loop back to its label around a nanosleep and an acquire load, nothing less', () => {
  const spin = '$L__BB1_278:\n\tmov.u32 \t%r1, 100;\n\tnanosleep.u32 %r1;\n\tld.acquire.gpu.global.u32 %r2, [%rd1];\n\tsetp.eq.s32 \t%p1, %r2, 0;\n\t@%p1 bra \t$L__BB1_278;\n';
  assert.ok(spinsOnAcquireLoad(spin));
  assert.ok(!spinsOnAcquireLoad(spin.replace('nanosleep.u32 %r1;', '')), 'no sleep: not the wait');
  assert.ok(!spinsOnAcquireLoad(spin.replace('ld.acquire', 'ld.relaxed')), 'no acquire');
  assert.ok(!spinsOnAcquireLoad(spin.replace('bra \t$L__BB1_278', 'bra \t$L__BB1_279')), 'no branch back');
  assert.ok(!spinsOnAcquireLoad(`\tld.acquire.gpu.global.u32 %r2, [%rd1];\n${spin.replace(/ld\.acquire\S+ %r2, \[%rd1\];/, 'add.s32 %r2, %r2, 1;')}`), 'the load outside the loop');
});

test('every sm_80-family kernel waits for the grid before it in its sm_90 code', { skip: nvcc ? false : 'no nvcc' }, () => {
  // fwd, bwd_pre, bwd_pre_side, bwd, bwd_dq, bwd_large (an empty body where the head dim has none), bwd_dq_det; no
  // bwd_pre_side at d = 32
  checkUnit('sm80/flash_sm80.cu', 'sm_90', 'bf16', 128, 7);
  checkUnit('sm80/flash_sm80.cu', 'sm_90', 'f16', 64, 7);
  checkUnit('sm80/flash_sm80.cu', 'sm_90', 'f16', 32, 6);
});

test('every sm_90a kernel waits for the grid before it (forward, backward and bwd_dq_det90 at d = 64, 128; with bwd_wide at 256), the backward unless beside bwd_pre_side', { skip: nvcc ? false : 'no nvcc' }, () => {
  checkUnit('sm90/flash_sm90.cu', 'sm_90a', 'bf16', 64, 3, true);
  checkUnit('sm90/flash_sm90.cu', 'sm_90a', 'bf16', 128, 3, true);
  checkUnit('sm90/flash_sm90.cu', 'sm_90a', 'f16', 256, 3, true);
});
