"""W1's split tail, simulated (CPU): the d = 128 non-causal forward's 2048 equal tiles (n * l = 16k, hidden 2048) on
132 persistent blocks that claim in order, with the last S tiles each split into P key ranges (a part: 1 / P of a
tile plus eps of overhead for its own Q load and partial O; one part per tile also merges, 0.03 of a tile spread over
the P parts). Prints the best (makespan, P, S) and the gain over no split (16 tiles a block where the work is 15.52).
Usage: python3 split_tail_sim.py."""
import heapq


def makespan(tiles, blocks, split, parts, eps_part, eps_merge):
    items = [1.0] * (tiles - split) + [1.0 / parts + eps_part + eps_merge / parts] * (split * parts)
    ends = [0.0] * blocks
    for d in items:
        heapq.heappush(ends, heapq.heappop(ends) + d)
    return max(ends)


def main():
    tiles, blocks = 2048, 132
    base = makespan(tiles, blocks, 0, 1, 0, 0)
    print(f'no split {base:.3f} tile-times, ideal {tiles / blocks:.3f}')
    for eps in (0.01, 0.03):
        best = min((makespan(tiles, blocks, s, p, eps, 0.03), p, s) for p in (2, 3, 4, 5, 6, 8) for s in range(0, 600, 2))
        print(f'part overhead {eps}: best {best[0]:.3f} with P = {best[1]}, S = {best[2]}: {100 * (base / best[0] - 1):+.1f}%')


if __name__ == '__main__':
    main()
