// Parses `nvcc -Xptxas -v` output into one record per kernel symbol.
// ptxas prints, per entry function:
//   ptxas info    : Compiling entry function 'NAME' for 'sm_80'
//   ptxas info    : Function properties for NAME
//       S bytes stack frame, A bytes spill stores, B bytes spill loads
//   ptxas info    : Used R registers, [used N barriers,] [X bytes smem,] C bytes cmem[0]
// A "Function properties" block names its function, which is not always the entry being compiled: after an entry that
// calls a not-inlined device function, ptxas reports that function's frame too. Each frame line goes to the function
// its block names (an entry's record, or one of its own for a device function, registers 0), never to the entry above
// it: read into the entry, a callee's clean frame hid the entry's own spills.
// A unit built for several targets reports each kernel once per target; the record keeps the largest of each field,
// so a spill in any target shows.
export function parsePtxasReport(text) {
  const kernels = new Map();
  const record = (name, entry) => {
    const r = { entry, registers: 0, spillStores: 0, spillLoads: 0, stack: 0, staticSmem: 0 };
    kernels.set(name, [...(kernels.get(name) ?? []), r]);
    return r;
  };
  let current = null;  // the entry being compiled
  let framed = null;  // the function whose "Function properties" block this is
  for (const line of text.split('\n')) {
    const entry = /Compiling entry function '([^']+)'/.exec(line);
    if (entry) {
      current = { name: entry[1], info: record(entry[1], true) };
      framed = null;
      continue;
    }
    const properties = /Function properties for (\S+)/.exec(line);
    if (properties) {
      framed = current !== null && properties[1] === current.name ? current.info : record(properties[1], false);
      continue;
    }
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (frame && framed) {
      framed.stack = Number(frame[1]);
      framed.spillStores = Number(frame[2]);
      framed.spillLoads = Number(frame[3]);
    }
    const used = /Used (\d+) registers/.exec(line);
    if (used && current) {
      current.info.registers = Number(used[1]);
      const smem = /(\d+) bytes smem/.exec(line);
      if (smem) current.info.staticSmem = Number(smem[1]);
    }
  }
  const merged = new Map();
  for (const [name, records] of kernels) {
    const max = (field) => Math.max(...records.map((r) => r[field]));
    merged.set(name, {
      entry: records.some((r) => r.entry), registers: max('registers'), spillStores: max('spillStores'), spillLoads: max('spillLoads'),
      stack: max('stack'), staticSmem: max('staticSmem'),
    });
  }
  return merged;
}
