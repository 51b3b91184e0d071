"""The most stalled SASS instructions of each kernel in an ncu source export, with the kernel's stall reasons overall:
  ncu --import X.ncu-rep --page source --csv --print-source sass > X.csv; python3 stalls.py X.csv [top]
(the report needs the WarpStateStats and SourceCounters sections)."""
import csv
import sys


def kernels(path):
    """(name, header, rows) per kernel: the export repeats a "Kernel Name" line, then a header, then one row per
    instruction."""
    out, cur = [], None
    for row in csv.reader(open(path)):
        if row and row[0] == 'Kernel Name':
            cur = [row[1] if len(row) > 1 else '?', None, []]
            out.append(cur)
        elif cur is not None and cur[1] is None:
            cur[1] = row
        elif cur is not None:
            cur[2].append(row)
    return out


def main():
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    seen = set()
    for name, header, rows in kernels(sys.argv[1]):
        samples = header.index('Warp Stall Sampling (All Samples)')
        executed = header.index('Instructions Executed')
        reasons = [h for h in header if h.startswith('stall_') and 'Not Issued' not in h]
        total = sum(int(r[samples] or 0) for r in rows)
        if (name, total) in seen or total == 0:
            continue
        seen.add((name, total))
        overall = {h: sum(int(r[header.index(h)] or 0) for r in rows) for h in reasons}
        print(f'== {name}: {total} samples;',
              ' '.join(f'{h[6:]} {100 * v / total:.1f}%' for h, v in sorted(overall.items(), key=lambda kv: -kv[1])[:8]))
        for i in sorted(range(len(rows)), key=lambda i: -int(rows[i][samples] or 0))[:top]:
            r = rows[i]
            why = sorted(((int(r[header.index(h)] or 0), h[6:]) for h in reasons), reverse=True)[:2]
            print(f'{i:5d} {100 * int(r[samples]) / total:5.1f}% executed {r[executed]:>9s}  {r[1].strip()[:64]:64s} {why}')


if __name__ == '__main__':
    main()
