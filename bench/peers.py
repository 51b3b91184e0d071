"""Times the peers in the same run as flash-attn: PyTorch scaled_dot_product_attention with its flash
(FlashAttention-2) and cuDNN backends. Reads JSON lines on stdin: first {"dtype", "repeats", "warmup", "inputSets",
"sustainMs"} (sustainMs optional),
then one case {"n", "l", "h", "d", "causal"} per line; writes {"info": ...} once the settings are read, then one JSON
object per case as soon as it is timed, so that `flash-attn bench` can time each case's peers right after its own
timing of it (src/cli/peers.ts). Same FLOP convention, same median of CUDA event timings, same rotation over input
sets as `flash-attn bench`."""
import json
import statistics
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}


# sustain's rounds double until one takes this long (as SUSTAIN_ROUND_MS in src/cli/bench.ts), and it stops after
# this many calls whatever the time (MAX_WARMUP_CALLS there).
SUSTAIN_ROUND_MS = 20
MAX_SUSTAIN_CALLS = 100_000


def sustain(fn, ms, warmup):
    """Calls of fn back to back until they have taken `ms` milliseconds on the device, in rounds of max(1, warmup)
    calls that double while a round is shorter than SUSTAIN_ROUND_MS: what `flash-attn bench --sustain-ms` runs
    before each of its own timed passes."""
    spent, calls, size = 0.0, 0, max(1, warmup)
    while spent < ms and calls < MAX_SUSTAIN_CALLS:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(size):
            fn()
        end.record()
        end.synchronize()
        took = start.elapsed_time(end)
        spent, calls = spent + took, calls + size
        if took < SUSTAIN_ROUND_MS:
            size = min(2 * size, MAX_SUSTAIN_CALLS)


def time_ms(fn, repeats, warmup, sustain_ms=0):
    """Median of `repeats` launches' times. The launches go back to back with an event between two, as
    `flash-attn bench` times its own (src/backend/cuda/timing.ts), and the host waits only at the end: waiting
    after each launch would add the host's dispatch time (tens of microseconds for SDPA) to every one of them.
    Before them: `warmup` calls, or with sustain_ms > 0 that many milliseconds of calls back to back."""
    if sustain_ms > 0:
        sustain(fn, sustain_ms, warmup)
    else:
        for _ in range(warmup):
            fn()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(repeats + 1)]
    events[0].record()
    for end in events[1:]:
        fn()
        end.record()
    events[-1].synchronize()
    return statistics.median(start.elapsed_time(end) for start, end in zip(events, events[1:]))


def bench_case(case, dtype, repeats, warmup, input_sets, sustain_ms=0):
    n, l, h, d, causal = case["n"], case["l"], case["h"], case["d"], case["causal"]
    # Our layout is [n, l, h, d]; SDPA wants [n, h, l, d]: a transposed view, no copy.
    sets = []
    for _ in range(input_sets):
        q, k, v, dout = (torch.randn(n, l, h, d, device="cuda", dtype=dtype).transpose(1, 2) for _ in range(4))
        for t in (q, k, v):
            t.requires_grad_(True)
        sets.append((q, k, v, dout))
    result = {}
    for name, backend in BACKENDS.items():
        try:
            with sdpa_kernel(backend):
                outs = [torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal) for q, k, v, _ in sets]
                turn = [0]

                def forward():
                    q, k, v, _ = sets[turn[0] % input_sets]
                    turn[0] += 1
                    with torch.no_grad():
                        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)

                def backward():
                    i = turn[0] % input_sets
                    turn[0] += 1
                    q, k, v, dout = sets[i]
                    torch.autograd.grad(outs[i], (q, k, v), dout, retain_graph=True)

                result[name] = {"fwdMs": time_ms(forward, repeats, warmup, sustain_ms),
                                "bwdMs": time_ms(backward, repeats, warmup, sustain_ms)}
        except RuntimeError as error:  # a backend that refuses the shape is reported, not fatal
            result[name] = {"error": str(error).splitlines()[0]}
    return result


def main():
    settings = json.loads(sys.stdin.readline())
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[settings["dtype"]]
    info = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name()}
    print(json.dumps({"info": info}), flush=True)
    while line := sys.stdin.readline():  # one case at a time: flash-attn waits for each answer before the next
        case = json.loads(line)
        timings = bench_case(case, dtype, settings["repeats"], settings["warmup"], settings["inputSets"],
                             settings.get("sustainMs", 0))
        print(json.dumps({"case": case, **timings}), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
