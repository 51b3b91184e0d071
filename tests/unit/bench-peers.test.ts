// PeerSession's protocol with bench/peers.py, against a stand-in script run by node: the settings line first, then
// one case per line, each answered before the next is sent; a script that dies fails the session with its stderr.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PeerSession } from '../../src/cli/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'flash-peers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in that answers like bench/peers.py: fwdMs = l, bwdMs = the number of cases seen so far. */
const standIn = join(dir, 'peers.mjs');
writeFileSync(
  standIn,
  `import { createInterface } from 'node:readline';
let settings, seen = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!settings) {
    settings = JSON.parse(line);
    console.log(JSON.stringify({ info: { torch: 'stand-in', cudnn: settings.repeats, device: settings.dtype } }));
    continue;
  }
  const c = JSON.parse(line);
  if (c.l === 13) { console.error('first line\\nsecond line\\nRuntimeError: out of memory'); process.exit(3); }
  seen += 1;
  console.log(JSON.stringify({ case: c, flash: { fwdMs: c.l, bwdMs: seen }, cudnn: { error: 'refused' } }));
}
`,
);
const settings = { dtype: 'bfloat16', repeats: 7, warmup: 1, inputSets: 2, sustainMs: 0 } as const;
const command = [process.execPath, standIn] as const;

test('PeerSession sends the settings, then each case, and reads one answer per case, in order', async () => {
  const session = await PeerSession.start(settings, command);
  assert.deepEqual(session.info, { torch: 'stand-in', cudnn: 7, device: 'bfloat16' });
  const first = await session.time({ n: 1, l: 64, h: 2, d: 64, causal: false });
  const second = await session.time({ n: 1, l: 128, h: 2, d: 64, causal: true });
  assert.deepEqual(first, { flash: { fwdMs: 64, bwdMs: 1 }, cudnn: { error: 'refused' } });
  assert.deepEqual(second.flash, { fwdMs: 128, bwdMs: 2 });
  await session.close();
});

test('a peers script that dies fails the case with its exit status and the end of its stderr', async () => {
  const session = await PeerSession.start(settings, command);
  await assert.rejects(session.time({ n: 1, l: 13, h: 1, d: 64, causal: false }), /exit 3\): first line \| second line \| RuntimeError: out of memory/);
  await session.close();
});

test('a peers script that cannot start fails the session before any case', async () => {
  await assert.rejects(PeerSession.start(settings, [process.execPath, join(dir, 'missing.mjs')]), /bench\/peers.py failed \(exit 1\)/);
});
