"""Dev harness: loads kernels/build/*.fatbin through the CUDA driver API (ctypes -> libcuda), packs
FlashParams exactly as kernels/common/params.h lays it out, and launches by kernels/build/manifest.json the
way the TypeScript runtime does. torch only allocates memory and owns the context and stream."""
import ctypes
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get('FLASH_BUILD', os.path.join(HERE, '..', 'build'))
LOG2E = 1.4426950408889634
TORCH_DTYPE = {'float16': torch.float16, 'bfloat16': torch.bfloat16}

_cuda = ctypes.CDLL('libcuda.so.1')
_cuda.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
_cuda.cuModuleLoadData.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]
_cuda.cuModuleGetFunction.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p]
_cuda.cuFuncSetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_cuda.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p, ctypes.c_void_p,
                                                                           ctypes.c_void_p]
CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8


def check(res, what):
    if res != 0:
        name = ctypes.c_char_p()
        _cuda.cuGetErrorName(res, ctypes.byref(name))
        raise RuntimeError(f'{what}: {name.value.decode() if name.value else res}')


class FlashParams(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in
                ('q', 'k', 'v', 'o', 'lse', 'dout', 'dq', 'dk', 'dv', 'dq_accum', 'softmax_d')] + \
               [(f, ctypes.c_int32) for f in
                ('n', 'lq', 'lk', 'h', 'hk', 'd', 'window_left', 'window_right', 'diagonal_offset',
                 'out_float32')] + \
               [('softmax_scale', ctypes.c_float), ('softmax_scale_log2', ctypes.c_float)]


assert ctypes.sizeof(FlashParams) == 136


class Kernels:
    def __init__(self, build=BUILD):
        torch.zeros(1, device='cuda')  # make torch's primary context current on this thread
        with open(os.path.join(build, 'manifest.json')) as f:
            self.manifest = json.load(f)
        self.build = build
        # The runtime's rule: for (phase, dtype, compiled head dim), the variant with the most shared memory that
        # this device allows per block. FLASH_SMEM_LIMIT lowers the limit (e.g. 101376 tests the 99 KB variants).
        self.limit = torch.cuda.get_device_properties(0).shared_memory_per_block_optin
        if os.environ.get('FLASH_SMEM_LIMIT'):
            self.limit = min(self.limit, int(os.environ['FLASH_SMEM_LIMIT']))
        self.entries = {}
        for e in self.manifest['kernels']:
            key = (e['phase'], e['dtype'], e['headDim'])
            if e['smemBytes'] <= self.limit and (key not in self.entries or
                                                 e['smemBytes'] > self.entries[key]['smemBytes']):
                self.entries[key] = e
        self.head_dims = sorted({e['headDim'] for e in self.manifest['kernels']})
        self.modules = {}
        self.functions = {}

    def function(self, entry):
        key = entry['symbol']
        if key not in self.functions:
            if entry['file'] not in self.modules:
                with open(os.path.join(self.build, entry['file']), 'rb') as f:
                    image = f.read()
                mod = ctypes.c_void_p()
                check(_cuda.cuModuleLoadData(ctypes.byref(mod), image), f'cuModuleLoadData {entry["file"]}')
                self.modules[entry['file']] = mod
            fn = ctypes.c_void_p()
            check(_cuda.cuModuleGetFunction(ctypes.byref(fn), self.modules[entry['file']], key.encode()),
                  f'cuModuleGetFunction {key}')
            if entry['smemBytes'] > 48 * 1024:
                check(_cuda.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                               entry['smemBytes']), f'cuFuncSetAttribute {key}')
            self.functions[key] = fn
        return self.functions[key]

    def compiled_dim(self, d):
        return next(x for x in self.head_dims if x >= d)

    def launch(self, phase, dtype, p):
        entry = self.entries[(phase, dtype, self.compiled_dim(p.d))]
        rows = p.lq if entry['gridRows'] == 'lq' else p.lk
        heads = p.h if entry['gridHeads'] == 'h' else p.hk
        gx = (rows + entry['tileRows'] - 1) // entry['tileRows']
        if gx == 0 or p.n == 0:
            return
        fn = self.function(entry)
        args = (ctypes.c_void_p * 1)(ctypes.addressof(p))
        stream = torch.cuda.current_stream().cuda_stream
        check(_cuda.cuLaunchKernel(fn, gx, heads, p.n, entry['threads'], 1, 1, entry['smemBytes'], stream, args,
                                   None), f'cuLaunchKernel {entry["symbol"]}')


def ptr(t):
    return 0 if t is None or t.numel() == 0 else t.data_ptr()


def make_params(q, k, v, scale, wl, wr, diag=None, out_float32=False, **bufs):
    n, lq, h, d = q.shape
    lk, hk = k.shape[1], k.shape[2]
    p = FlashParams()
    p.q, p.k, p.v = ptr(q), ptr(k), ptr(v)
    for name in ('o', 'lse', 'dout', 'dq', 'dk', 'dv', 'dq_accum', 'softmax_d'):
        setattr(p, name, ptr(bufs.get(name)))
    p.n, p.lq, p.lk, p.h, p.hk, p.d = n, lq, lk, h, hk, d
    p.window_left, p.window_right = wl, wr
    p.diagonal_offset = lk - lq if diag is None else diag
    p.out_float32 = 1 if out_float32 else 0
    p.softmax_scale = scale
    p.softmax_scale_log2 = scale * LOG2E
    return p


def dtype_name(t):
    return 'float16' if t == torch.float16 else 'bfloat16'


def forward(K, q, k, v, scale, wl, wr, o, lse, out_float32=False, diag=None):
    p = make_params(q, k, v, scale, wl, wr, diag, out_float32, o=o, lse=lse)
    K.launch('fwd', dtype_name(q.dtype), p)


def backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, dq_accum, softmax_d, out_float32=False,
             diag=None, phases=('bwd_pre', 'bwd', 'bwd_dq')):
    p = make_params(q, k, v, scale, wl, wr, diag, out_float32, o=o, lse=lse, dout=dout, dq=dq, dk=dk, dv=dv,
                    dq_accum=dq_accum, softmax_d=softmax_d)
    for phase in phases:
        K.launch(phase, dtype_name(q.dtype), p)
