"""Q6 hang diagnosis: one d = 256 backward of the given shape with the q6 build, main kernel only, then the counters."""
import sys
import torch
from flashk import FlashParams, Kernels, dtype_name, forward, make_params

n, l, h, hk, causal = (int(x) for x in sys.argv[1:6])
dq_phase = len(sys.argv) > 6
K = Kernels('../q8')
d = 256
torch.manual_seed(0)
q = torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16)
k, v = (torch.randn(n, l, hk, d, device='cuda', dtype=torch.bfloat16) for _ in range(2))
dout = torch.randn_like(q)
wr = 0 if causal else -1
o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
forward(K, q, k, v, d ** -0.5, -1, wr, o, lse)
dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
p = make_params(q, k, v, d ** -0.5, -1, wr, None, False, o=o, lse=lse, dout=dout, dq=dq, dk=dk, dv=dv, dq_accum=acc,
                softmax_d=sd)
entry = K.entry90(q, k, v, dk, 'bwd', (dout,))
done = torch.full((n * hk,), 77, dtype=torch.int32, device='cuda')
p.dq_done = done.data_ptr()
p.dq_done_whole = (l + entry['tileRows'] - 1) // entry['tileRows']
K.launch('bwd_pre', dtype_name(q.dtype), p)
torch.cuda.synchronize()
print('after pre', done.unique().tolist(), flush=True)
K.launch_bwd90(entry, q, k, v, dout, acc, FlashParams.from_buffer_copy(p))
torch.cuda.synchronize()
print('after main: whole', p.dq_done_whole, 'counts', torch.bincount(done.long()).nonzero().flatten().tolist(),
      done[:16].tolist(), flush=True)
if dq_phase:
    K.launch('bwd_dq', dtype_name(q.dtype), p)
    torch.cuda.synchronize()
    print('after bwd_dq ok', flush=True)
