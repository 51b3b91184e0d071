/**
 * Registers the sampled forward+backward grid as node:test cases, one per (device, dtype, case), so a
 * failure names its case and prints a one-line repro for exactly that test.
 */
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { caseName, checkCase, reproLine } from './attentionCase.js';
import { dtypesFor, testDevices } from './devices.js';
import { gridCases } from './grids.js';

/** The compiled test file a suite lives in, relative to where `npm test` runs. */
export function testFile(moduleUrl: string): string {
  return relative(process.cwd(), fileURLToPath(moduleUrl));
}

export function gridSuite(groups: readonly string[], moduleUrl: string): void {
  const file = testFile(moduleUrl);
  for (const device of testDevices()) {
    describe(`${groups.join(' + ')} grid on ${device}`, () => {
      for (const dtype of dtypesFor(device)) {
        for (const { group, spec } of gridCases(dtype).filter((c) => groups.includes(c.group))) {
          const name = `${device} ${group}: ${caseName(spec)}`;
          it(name, async () => {
            const failures = await checkCase(device, spec, reproLine(device, name, file));
            if (failures.length > 0) assert.fail(`${name}\n${failures.join('\n')}`);
          });
        }
      }
    });
  }
}
