/** Fake native libraries (a libcuda, an NCCL) built from C sources with the system C compiler. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function haveCompiler(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles `source` into a shared library named `name` in a new temporary folder and returns its path; undefined
 * where there is no C compiler (the tests that need it skip, saying so). A source that fails to compile throws,
 * with the compiler's output: that is a broken fake, not a machine without a compiler, and must not turn into skips.
 */
export function buildFakeLibrary(source: string, name: string, defines: readonly string[] = []): string | undefined {
  if (!haveCompiler()) return undefined;
  const out = join(mkdtempSync(join(tmpdir(), 'fake-lib-')), name);
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O1', ...defines, '-o', out, source], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`cc could not build ${name} from ${source}:\n${stderr}`);
  }
  return out;
}
