// Parses `nvcc -Xptxas -v` output into one record per kernel symbol.
// ptxas prints, per entry function:
//   ptxas info    : Compiling entry function 'NAME' for 'sm_80'
//   ptxas info    : Function properties for NAME
//       S bytes stack frame, A bytes spill stores, B bytes spill loads
//   ptxas info    : Used R registers, [used N barriers,] [X bytes smem,] C bytes cmem[0]
// A unit built for several targets reports each kernel once per target; the record keeps the largest of each field,
// so a spill in any target shows.
export function parsePtxasReport(text) {
  const kernels = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    const entry = /Compiling entry function '([^']+)'/.exec(line);
    if (entry) {
      current = { registers: 0, spillStores: 0, spillLoads: 0, stack: 0, staticSmem: 0 };
      const seen = kernels.get(entry[1]) ?? [];
      seen.push(current);
      kernels.set(entry[1], seen);
      continue;
    }
    if (!current) continue;
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (frame) {
      current.stack = Number(frame[1]);
      current.spillStores = Number(frame[2]);
      current.spillLoads = Number(frame[3]);
    }
    const used = /Used (\d+) registers/.exec(line);
    if (used) {
      current.registers = Number(used[1]);
      const smem = /(\d+) bytes smem/.exec(line);
      if (smem) current.staticSmem = Number(smem[1]);
    }
  }
  const merged = new Map();
  for (const [name, records] of kernels) {
    const max = (field) => Math.max(...records.map((r) => r[field]));
    merged.set(name, {
      registers: max('registers'), spillStores: max('spillStores'), spillLoads: max('spillLoads'),
      stack: max('stack'), staticSmem: max('staticSmem'),
    });
  }
  return merged;
}
