// What `npm pack` puts in the package: the compiled library, the prebuilt kernels and their manifests, the kernel
// sources with the scripts that rebuild them, README and LICENSE; never the experiment builds beside kernels/build
// (kernels/build-probe: tens of megabytes), build-kernels' describe binaries, or the GPU-host dev harness.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const ALLOWED = [
  /^dist\/src\//,
  /^kernels\/build\/[\w-]+\.fatbin$/,
  /^kernels\/build\/(ring-)?manifest\.json$/,
  /^kernels\/(common|ring|sm80|sm90)\/[\w.-]+\.(cuh?|h)$/,
  /^scripts\/(build-kernels|build-ring-kernels|ptxas-report)\.mjs$/,
  /^(README\.md|LICENSE|package\.json)$/,
];

test('the package holds the library, the built kernels and their sources, and nothing of the experiments', () => {
  // --ignore-scripts: prepare would rebuild the library and the kernels first.
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(output)[0].files.map((f: { path: string }) => f.path);
  const stray = files.filter((path) => !ALLOWED.some((pattern) => pattern.test(path)));
  assert.deepEqual(stray, [], 'files the package should not carry');
  const required = ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'kernels/sm90/flash_sm90.cu',
    'kernels/sm80/flash_sm80.cu', 'kernels/ring/ring_ops.cu', 'scripts/build-kernels.mjs', 'README.md', 'LICENSE'];
  // The built kernels ship where this tree has them (nvcc at install).
  for (const built of ['kernels/build/manifest.json', 'kernels/build/ring-manifest.json']) {
    if (existsSync(join(ROOT, built))) required.push(built);
  }
  assert.deepEqual(required.filter((path) => !files.includes(path)), [], 'files the package must carry');
});
