"""Dev harness: loads kernels/build/*.fatbin through the CUDA driver API (ctypes -> libcuda), packs
FlashParams exactly as kernels/common/params.h lays it out, and launches by kernels/build/manifest.json the
way the TypeScript runtime does. torch only allocates memory and owns the context and stream.
On a compute capability 9.0 card the forward and the backward's main pass run the sm_90a kernels where they apply
(as the runtime picks them), unless FLASH_PATH=sm80."""
import ctypes
import json
import math
import os
import types

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
_cuda.cuTensorMapEncodeTiled.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                                         ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                                         ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6


class LaunchAttribute(ctypes.Structure):
    """CUlaunchAttribute: an id, padding to 8, a 64-byte value union (here its first int)."""
    _fields_ = [('id', ctypes.c_int), ('pad', ctypes.c_uint8 * 4), ('value', ctypes.c_int), ('rest', ctypes.c_uint8 * 60)]


class LaunchConfig(ctypes.Structure):
    _fields_ = [('grid', ctypes.c_uint * 3), ('block', ctypes.c_uint * 3), ('smem', ctypes.c_uint),
                ('stream', ctypes.c_void_p), ('attrs', ctypes.POINTER(LaunchAttribute)), ('num_attrs', ctypes.c_uint)]


assert ctypes.sizeof(LaunchAttribute) == 72
_cuda.cuLaunchKernelEx.argtypes = [ctypes.POINTER(LaunchConfig), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
CU_TENSOR_MAP_DATA_TYPE_UINT16 = 1
CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7
CU_TENSOR_MAP_SWIZZLE_128B = 3
CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3


def check(res, what):
    if res != 0:
        name = ctypes.c_char_p()
        _cuda.cuGetErrorName(res, ctypes.byref(name))
        raise RuntimeError(f'{what}: {name.value.decode() if name.value else res}')


class FlashParams(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in
                ('q', 'k', 'v', 'o', 'lse', 'dout', 'dq', 'dk', 'dv', 'dq_accum', 'softmax_d', 'tile_counter')] + \
               [(f, ctypes.c_int32) for f in
                ('n', 'lq', 'lk', 'h', 'hk', 'd', 'window_left', 'window_right', 'diagonal_offset',
                 'out_float32')] + \
               [('softmax_scale', ctypes.c_float), ('softmax_scale_log2', ctypes.c_float)] + \
               [('dq_done', ctypes.c_uint64), ('dq_done_whole', ctypes.c_uint32), ('ready_rows', ctypes.c_uint32),
                ('pace_grid', ctypes.c_uint32), ('pace_key_rows', ctypes.c_uint32)]


assert ctypes.sizeof(FlashParams) == 168


class BwdArgs90(ctypes.Structure):
    """kernels/sm90/bwd_tiles.cuh's BwdArgs: five 128-byte CUtensorMaps (q, k, v, dout, dq_accum), FlashParams,
    padded to 128."""
    _fields_ = [('maps', ctypes.c_uint8 * 640), ('p', FlashParams), ('pad', ctypes.c_uint8 * 88)]


assert ctypes.sizeof(BwdArgs90) == 896


class FwdArgs90(ctypes.Structure):
    """kernels/sm90/fwd_tiles.cuh's FwdArgs: four 128-byte CUtensorMaps (q, k, v, o), FlashParams, padded to
    CUtensorMap's alignment (128 bytes in CUDA 13's cuda.h)."""
    _fields_ = [('maps', ctypes.c_uint8 * 512), ('p', FlashParams), ('pad', ctypes.c_uint8 * 88)]


class FwdArgs90NoOut(ctypes.Structure):
    """FwdArgs of builds before the o map (their manifests have no outBoxRows): q, k, v only, kept so that
    ab.py can time such a build beside a newer one."""
    _fields_ = [('maps', ctypes.c_uint8 * 384), ('p', FlashParams), ('pad', ctypes.c_uint8 * 88)]


assert ctypes.sizeof(FwdArgs90) == 768 and ctypes.sizeof(FwdArgs90NoOut) == 640


def tensor_map(t, rows, box_rows):
    """A rank-4 map over [n, rows, heads, d] data seen as (d, rows, heads, n): boxes one 128-byte row wide (64
    columns of 16-bit data, as UINT16; 32 of float32, as FLOAT32, which TMA's reductions add in) x box_rows rows,
    128-byte swizzle, zero fill outside. Returns its 128 bytes."""
    n, l, heads, d = t.shape
    size = 4 if t.dtype == torch.float32 else 2
    raw = ctypes.create_string_buffer(128 + 64)
    at = (ctypes.addressof(raw) + 63) // 64 * 64
    dims = (ctypes.c_uint64 * 4)(d, l, heads, n)
    strides = (ctypes.c_uint64 * 3)(heads * d * size, d * size, l * heads * d * size)
    box = (ctypes.c_uint32 * 4)(128 // size, box_rows, 1, 1)
    ones = (ctypes.c_uint32 * 4)(1, 1, 1, 1)
    kind = CU_TENSOR_MAP_DATA_TYPE_FLOAT32 if size == 4 else CU_TENSOR_MAP_DATA_TYPE_UINT16
    check(_cuda.cuTensorMapEncodeTiled(at, kind, 4, t.data_ptr(), dims, strides, box, ones,
                                       0, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, 0),
          'cuTensorMapEncodeTiled')
    return ctypes.string_at(at, 128)


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
        # Multiprocessors the persistent Hopper backward leaves free (a probe: bwd_dq's blocks, launched to overlap it,
        # find room there while it runs). FLASH_BWD_SPARE_SMS, or set on the object.
        self.bwd_spare_sms = int(os.environ.get('FLASH_BWD_SPARE_SMS', '0'))
        # bwd_dq launched to overlap the main kernel, as the package does on Hopper (FLASH_PDL_DQ=1), or set on the
        # object.
        self.pdl_dq = os.environ.get('FLASH_PDL_DQ') == '1'
        # bwd_pre_side's grid, in blocks (a probe: 0 keeps launchGrid's, a block per multiprocessorsPerBlock
        # multiprocessors). FLASH_SIDE_BLOCKS, or set on the object.
        self.side_blocks = int(os.environ.get('FLASH_SIDE_BLOCKS', '0'))
        # Whether bwd_pre_side runs where side_pre allows it: FLASH_SIDE_PRE=0 never, or set on the object.
        self.side_pre_on = os.environ.get('FLASH_SIDE_PRE') != '0'
        # Pacing of bwd_pre_side (paced_side_blocks): FLASH_PACE=0 never paces; FLASH_PACE_MAX_KEYS (default 512, as
        # PACE_MAX_KEYS) bounds lq and lk; FLASH_PACED_BLOCKS overrides the manifest's pacedBlocks. Or set on the
        # object.
        self.pace = os.environ.get('FLASH_PACE') != '0'
        self.pace_max_keys = int(os.environ.get('FLASH_PACE_MAX_KEYS', '512'))
        self.paced_blocks = int(os.environ.get('FLASH_PACED_BLOCKS', '0'))
        self.entries = {}
        self.entries90 = {}
        cc = torch.cuda.get_device_capability(0)
        for e in self.manifest['kernels']:
            if e.get('arch') == 'sm_90a':
                if cc == (9, 0) and os.environ.get('FLASH_PATH') != 'sm80':
                    self.entries90[(e['phase'], e['dtype'], e['headDim'])] = e
                continue
            key = (e['phase'], e['dtype'], e['headDim'])
            if e['smemBytes'] <= self.limit and (key not in self.entries or
                                                 e['smemBytes'] > self.entries[key]['smemBytes']):
                self.entries[key] = e
        self.head_dims = sorted({e['headDim'] for e in self.manifest['kernels'] if e.get('arch') != 'sm_90a'})
        self.modules = {}
        self.functions = {}
        self.zeroed_counters = None  # an iterator of zeroed int32 counters, else one is zeroed per launch

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

    def preload(self, dtype):
        """Loads every kernel of `dtype` whose fatbin is in the build, ahead of any launch. A first load while kernels
        run may wait for them (CUDA's lazy loading can synchronize the context), which deadlocks a kernel that spins on
        one launched after it: bwd_pre_side probes that wait for the main kernel's progress (bench/NOTES.md PACE)."""
        for e in list(self.entries.values()) + list(self.entries90.values()):
            if e['dtype'] == dtype and os.path.exists(os.path.join(self.build, e['file'])):
                self.function(e)

    def entry90(self, q, k, v, o, phase='fwd', more=()):
        """The sm_90a kernel of `phase` for this call, or None where it does not apply (the sm_80 kernel runs).
        `more`: further tensors read through tensor maps (dout for the backward)."""
        dims = sorted(d for (ph, dt, d) in self.entries90 if ph == phase and dt == dtype_name(q.dtype))
        d = q.shape[3]
        fit = [x for x in dims if x >= d]
        # Mapped tensors on 16 bytes for TMA; the stored output (o, or dk for the backward) too: both kernels store
        # 16-byte pieces, as forward-path.ts and backward-path.ts require.
        aligned = all(t.data_ptr() % 16 == 0 for t in (q, k, v, *more, o))
        if not fit or d % 8 != 0 or not aligned or q.numel() == 0 or k.numel() == 0:
            return None
        return self.entries90[(phase, dtype_name(q.dtype), fit[0])]

    def launch_bwd90(self, entry, q, k, v, dout, dq_accum, p, kernel=None, pdl=False, spare=0):
        """The Hopper bwd `entry` with its maps; or, given `kernel` (the Hopper bwd_dq_det of the same box rows), that
        kernel with the same BwdArgs, a block per tileRows query rows of a (batch, head). pdl: launched to overlap the
        kernel before (bwd_pre_side); spare: multiprocessors it leaves to a paced bwd_pre_side (besides
        bwd_spare_sms)."""
        args = BwdArgs90()
        rows, keys = entry['queryTileRows'], entry['keyTileRows']
        maps = tensor_map(q, q.shape[1], rows) + tensor_map(k, k.shape[1], keys) + tensor_map(v, v.shape[1], keys) + \
            tensor_map(dout, dout.shape[1], rows) + tensor_map(dq_accum, dq_accum.shape[1], entry['dqBoxRows'])
        ctypes.memmove(args.maps, maps, 640)
        if kernel is None:
            self._launch_sm90(entry, args, p, (p.lk + entry['tileRows'] - 1) // entry['tileRows'], p.hk, pdl,
                              spare=self.bwd_spare_sms + spare)
        else:
            self._launch_sm90(kernel, args, p, (p.lq + kernel['tileRows'] - 1) // kernel['tileRows'], p.h)

    def dq_det90(self, bwd_entry):
        """The Hopper bwd_dq_det that reads through `bwd_entry`'s maps (as src/backend/cuda/backward.ts picks it), or
        None; FLASH_DQ_DET90=0 leaves it out (the sm_80 bwd_dq_det runs)."""
        if bwd_entry is None or os.environ.get('FLASH_DQ_DET90') == '0':
            return None
        e = self.entries90.get(('bwd_dq_det', bwd_entry['dtype'], bwd_entry['headDim']))
        if e is None or e['queryTileRows'] != bwd_entry['queryTileRows'] or e['keyTileRows'] != bwd_entry['keyTileRows']:
            return None
        return e

    def launch90(self, entry, q, k, v, o, p):
        maps = tensor_map(q, q.shape[1], entry['tileRows']) + tensor_map(k, k.shape[1], entry['keyTileRows']) + \
            tensor_map(v, v.shape[1], entry['keyTileRows'])
        if 'outBoxRows' in entry:  # o's map, float32 o included (the kernel then stores it without the map)
            args = FwdArgs90()
            maps += tensor_map(o, o.shape[1], entry['outBoxRows'])
        else:
            args = FwdArgs90NoOut()
        ctypes.memmove(args.maps, maps, len(maps))
        gx = (p.lq + entry['tileRows'] - 1) // entry['tileRows']
        if gx == 0 or p.n == 0:
            return
        self._launch_sm90(entry, args, p, gx, p.h)

    def side_pre(self, bwd_entry, p, deterministic, read):
        """As sidePreEntry in src/backend/cuda/backward.ts but at every lk (no SIDE_PRE_MAX_KEYS, so that ab.py can
        measure where it pays): the bwd_pre_side to run in bwd_pre's place beside the Hopper bwd `bwd_entry` (tensors
        `read`: dout and o, 8-byte aligned for its vector rows), or None. Never without side_pre_on."""
        if bwd_entry is None or deterministic or not self.side_pre_on:
            return None
        if not (bwd_entry.get('waitsForReadyRows') and bwd_entry.get('countsDqItems')):
            return None
        if p.d % 4 != 0 or any(t.data_ptr() % 8 for t in read):
            return None
        # everyRowHasKeys, unless bwd_dq waits for its rows' flags (waitsForReadyRows): a row no step of the main
        # kernel covers is ordered before an older bwd_dq by nothing
        first_right = math.inf if p.window_right < 0 else p.diagonal_offset + p.window_right
        last_left = -math.inf if p.window_left < 0 else p.lq - 1 + p.diagonal_offset - p.window_left
        dq = self.entries.get(('bwd_dq', bwd_entry['dtype'], bwd_entry['headDim']))
        if (first_right < 0 or last_left > p.lk - 1) and not (dq and dq.get('waitsForReadyRows')):
            return None
        return self.entries.get(('bwd_pre_side', bwd_entry['dtype'], bwd_entry['headDim']))

    def paced_side_blocks(self, side, bwd_entry, p):
        """As pacedSideBlocks in src/backend/cuda/backward.ts: the blocks of a paced bwd_pre_side, or 0. Under a right
        window with lq and lk up to pace_max_keys, so that ab.py can measure elsewhere; never without self.pace; on
        paced_blocks blocks where set. (The main kernel always overlaps bwd_pre_side here: backward's pdl.)"""
        if side is None or 'pacedBlocks' not in side or not bwd_entry.get('persistent') or not self.pace:
            return 0
        if p.window_right < 0 or max(p.lq, p.lk) > self.pace_max_keys:
            return 0
        blocks = self.paced_blocks or side['pacedBlocks']
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        return blocks if 4 * blocks <= sms else 0

    def launch_side_pre(self, entry, p, paced=0):
        """bwd_pre_side as launchGrid places it: a block per multiprocessorsPerBlock multiprocessors, or per chunk;
        paced, on `paced` blocks (or per chunk)."""
        tiles = p.n * p.h * ((p.lq + entry['tileRows'] - 1) // entry['tileRows'])
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        blocks = max(1, min(tiles, paced or self.side_blocks or -(-sms // entry['multiprocessorsPerBlock'])))
        args = (ctypes.c_void_p * 1)(ctypes.addressof(p))
        stream = torch.cuda.current_stream().cuda_stream
        check(_cuda.cuLaunchKernel(self.function(entry), blocks, 1, 1, entry['threads'], 1, 1, 0, stream, args, None),
              f'cuLaunchKernel {entry["symbol"]}')

    @staticmethod
    def persistent_blocks(tiles, spare=0):
        """A persistent kernel's grid as launchGrid sizes it: min(tiles, multiprocessors), `spare` fewer of them."""
        return min(tiles, torch.cuda.get_device_properties(0).multi_processor_count - spare)

    def _launch_sm90(self, entry, args, p, gx, heads, pdl=False, spare=0):
        """Launches an sm_90a kernel with its parameter struct `args` (maps filled in; p goes in here) over gx tiles
        of `heads` heads and p.n batch entries: one block per tile, or, for a persistent kernel, as launchGrid in
        src/backend/cuda/table.ts: min(tiles, multiprocessors) blocks claiming tiles from a zeroed counter (`spare`
        fewer multiprocessors)."""
        grid = (gx, heads, p.n)
        if entry.get('persistent'):
            # freed in stream order after the launch; counter_gap.py hands out counters zeroed ahead of time instead;
            # beside bwd_pre_side the backward zeroes one with its counters (no kernel may come between the two)
            if p.tile_counter == 0:
                if self.zeroed_counters is not None:
                    counter = next(self.zeroed_counters)
                else:
                    counter = torch.zeros(1, dtype=torch.int32, device='cuda')
                p.tile_counter = counter.data_ptr()
            grid = (self.persistent_blocks(gx * heads * p.n, spare), 1, 1)
        args.p = p
        fn = self.function(entry)
        ptrs = (ctypes.c_void_p * 1)(ctypes.addressof(args))
        stream = torch.cuda.current_stream().cuda_stream
        if pdl:
            attr = LaunchAttribute(id=CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, value=1)
            cfg = LaunchConfig(grid, (entry['threads'], 1, 1), entry['smemBytes'], stream, ctypes.pointer(attr), 1)
            check(_cuda.cuLaunchKernelEx(ctypes.byref(cfg), fn, ptrs, None), f'cuLaunchKernelEx {entry["symbol"]}')
            return
        check(_cuda.cuLaunchKernel(fn, *grid, entry['threads'], 1, 1, entry['smemBytes'], stream, ptrs, None),
              f'cuLaunchKernel {entry["symbol"]}')

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
        if phase == 'bwd_dq' and self.pdl_dq:
            # As the package launches on Hopper (programmatic dependent launch): bwd_dq may start while the main
            # kernel runs, waiting for it (griddepcontrol.wait) or, given dq_done, for its (batch, head)'s items.
            attr = LaunchAttribute(id=CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, value=1)
            cfg = LaunchConfig((gx, heads, p.n), (entry['threads'], 1, 1), entry['smemBytes'], stream,
                               ctypes.pointer(attr), 1)
            check(_cuda.cuLaunchKernelEx(ctypes.byref(cfg), fn, args, None), f'cuLaunchKernelEx {entry["symbol"]}')
            return
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
    entry = K.entry90(q, k, v, o)
    if entry is not None:
        K.launch90(entry, q, k, v, o, p)
    else:
        K.launch('fwd', dtype_name(q.dtype), p)


def backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, dq_accum, softmax_d, out_float32=False,
             diag=None, deterministic=False):
    """deterministic: dq from bwd_dq_det (no atomics) instead of bwd's additions into dq_accum (atomics on sm_80,
    TMA reductions on sm_90a) and bwd_dq."""
    phases = ('bwd_pre', 'bwd', 'bwd_dq_det' if deterministic else 'bwd_dq')
    p = make_params(q, k, v, scale, wl, wr, diag, out_float32, o=o, lse=lse, dout=dout, dq=dq, dk=dk, dv=dv,
                    dq_accum=dq_accum, softmax_d=softmax_d)
    entry = K.entry90(q, k, v, dk, 'bwd', (dout,))
    if entry is not None and any(t.data_ptr() % 16 for t in (dq, dk, dv, dq_accum)):
        entry = None
    # As the host does (src/backend/cuda/backward.ts): the deterministic backward passes the Hopper bwd no dq_accum,
    # so that it skips its dQ products and reductions, and bwd_pre none where the build's bwd_pre allows it (accumOptional),
    # so that it leaves the workspace alone.
    p90 = FlashParams.from_buffer_copy(p)
    pre = FlashParams.from_buffer_copy(p)
    if deterministic:
        p90.dq_accum = 0
        if K.entries[('bwd_pre', dtype_name(q.dtype), K.compiled_dim(p.d))].get('accumOptional'):
            pre.dq_accum = 0
    # A Hopper bwd that counts its items (countsDqItems) gets the counters, which bwd_pre zeroes and on which bwd_dq waits.
    done = None
    if not deterministic and entry is not None and entry.get('countsDqItems'):
        done = torch.empty(p.n * p.hk, dtype=torch.int32, device='cuda')  # freed in stream order after use
        p.dq_done = pre.dq_done = p90.dq_done = done.data_ptr()
        # one count per item (key block) of the group
        p.dq_done_whole = pre.dq_done_whole = p90.dq_done_whole = (p.lk + entry['tileRows'] - 1) // entry['tileRows']
    # As backward.ts: beside a Hopper bwd marked waitsForReadyRows, bwd_pre_side runs in bwd_pre's place; the counters,
    # its ready flags and the Hopper bwd's tile counter are zeroed together before it, and the Hopper bwd overlaps it.
    side = K.side_pre(entry, p, deterministic, (dout, o)) if done is not None else None
    if side is not None:
        flags = p.n * p.h * ((p.lq + side['tileRows'] - 1) // side['tileRows'])
        done = torch.zeros(p.n * p.hk + flags + 1, dtype=torch.int32, device='cuda')
        p.dq_done = pre.dq_done = p90.dq_done = done.data_ptr()
        p.ready_rows = pre.ready_rows = p90.ready_rows = side['tileRows']
        p90.tile_counter = done.data_ptr() + 4 * (p.n * p.hk + flags)
    # As backward.ts: a paced bwd_pre_side reads the main kernel's claims, which runs on the multiprocessors left.
    paced = K.paced_side_blocks(side, entry, p)
    if paced:
        pre.tile_counter = p90.tile_counter
        items = p.n * p.hk * ((p.lk + entry['tileRows'] - 1) // entry['tileRows'])
        pre.pace_grid = K.persistent_blocks(items, K.bwd_spare_sms + paced)  # the grid launch_bwd90 gives it
        pre.pace_key_rows = entry['tileRows']
    det90 = K.dq_det90(entry) if deterministic else None
    if det90 is not None and det90.get('computesD'):
        # As backward.ts: a Hopper bwd_dq_det that computes D runs first, then the Hopper bwd; no bwd_pre.
        phases = ('bwd_dq_det', 'bwd')
    for phase in phases:
        if phase == 'bwd_pre' and side is not None:
            K.launch_side_pre(side, pre, paced)
        elif phase == 'bwd' and entry is not None:
            K.launch_bwd90(entry, q, k, v, dout, dq_accum, p90, pdl=side is not None, spare=paced)
        elif phase == 'bwd_dq_det' and det90 is not None:
            K.launch_bwd90(entry, q, k, v, dout, dq_accum, p90, kernel=det90)
        else:
            K.launch(phase, dtype_name(q.dtype), pre if phase == 'bwd_pre' else p)


def grid_problem(K, d, l, wr=-1):
    """A problem of the standard grid (bf16, hidden 2048, n * l = 16384 tokens; window (-1, wr): causal with wr = 0)
    with its forward run: q, k, v, dout, o, lse, the backward's outputs and workspaces, and run_backward()."""
    n, h = 16384 // l, 2048 // d
    t = types.SimpleNamespace(n=n, h=h, d=d, l=l)
    t.q, t.k, t.v, t.dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    t.o, t.lse = torch.empty_like(t.q), torch.empty(n, h, l, device='cuda')
    t.dq, t.dk, t.dv = torch.empty_like(t.q), torch.empty_like(t.k), torch.empty_like(t.v)
    t.acc, t.sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    forward(K, t.q, t.k, t.v, d ** -0.5, -1, wr, t.o, t.lse)
    t.run_backward = lambda: backward(K, t.q, t.k, t.v, t.o, t.lse, t.dout, d ** -0.5, -1, wr, t.dq, t.dk, t.dv,
                                      t.acc, t.sd)
    return t
