/**
 * Loads the prebuilt fatbins into a device's context and finds kernels in them, once per device.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttentionProblem } from '../../backend.js';
import { releaseAll } from '../../release.js';
import { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, type CUfunction, type CUmodule, type Raw64 } from './driver.js';
import { type CudaDevice, asHandle } from './runtime.js';
import { type HopperPathInputs, kernelFamily } from './hopper-path.js';
import { logLaunch } from './log.js';
import { type KernelDtype, type KernelEntry, type Phase, kernelLabel, kernelManifest, launchGrid, selectKernel } from './table.js';

/** Shared memory a block gets without opting in; more needs cuFuncSetAttribute. */
const DEFAULT_SHARED_MEMORY = 48 * 1024;

class DeviceKernels {
  readonly #modules = new Map<string, CUmodule>();
  readonly #functions = new Map<KernelSource, CUfunction>();

  constructor(readonly device: CudaDevice) {
    device.onDispose(() => this.#unloadAll());
  }

  function(entry: KernelSource): CUfunction {
    let fn = this.#functions.get(entry);
    if (fn !== undefined) return fn;
    const device = this.device;
    const driver = device.runtime.driver;
    device.makeCurrent();
    const module = this.#module(entry.file);
    const out: [Raw64] = [0];
    device.check(driver.cuModuleGetFunction(out, module, entry.symbol), `cuModuleGetFunction(${entry.symbol})`);
    fn = asHandle<CUfunction>(out[0]);
    if (entry.smemBytes > DEFAULT_SHARED_MEMORY) {
      device.check(
        driver.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, entry.smemBytes),
        `cuFuncSetAttribute(${entry.symbol})`,
      );
    }
    this.#functions.set(entry, fn);
    return fn;
  }

  #module(file: string): CUmodule {
    let module = this.#modules.get(file);
    if (module === undefined) {
      const image = readFileSync(join(kernelManifest().directory, file));
      const out: [Raw64] = [0];
      this.device.check(this.device.runtime.driver.cuModuleLoadData(out, image), `cuModuleLoadData(${file})`);
      module = asHandle<CUmodule>(out[0]);
      this.#modules.set(file, module);
    }
    return module;
  }

  /** Unloads every module, even after one unload fails (then throws the first error). */
  #unloadAll(): void {
    const modules = [...this.#modules.values()];
    this.#modules.clear();
    this.#functions.clear();
    const driver = this.device.runtime.driver;
    releaseAll(modules.map((module) => () => this.device.check(driver.cuModuleUnload(module), 'cuModuleUnload')));
  }
}

/** Where a kernel lives; functions are cached per object, so callers pass the same object each time. */
type KernelSource = Pick<KernelEntry, 'file' | 'symbol' | 'smemBytes'>;

const perDevice = new WeakMap<CudaDevice, DeviceKernels>();

function kernelsOf(device: CudaDevice): DeviceKernels {
  let kernels = perDevice.get(device);
  if (!kernels) {
    kernels = new DeviceKernels(device);
    perDevice.set(device, kernels);
  }
  return kernels;
}

/** A kernel ready to launch on one device for one problem. */
export interface ResolvedKernel {
  entry: KernelEntry;
  fn: CUfunction;
  grid: [number, number, number];
}

/** What the Hopper path rules need to know of a device (the rest of their inputs is the call's). */
export function hopperDeviceFacts(device: CudaDevice): Pick<HopperPathInputs<string, string>, 'family' | 'computeCapability' | 'sharedMemoryLimit' | 'kernels'> {
  return {
    family: kernelFamily(),
    computeCapability: device.computeCapability,
    sharedMemoryLimit: device.sharedMemoryPerBlockOptin,
    kernels: kernelManifest().kernels,
  };
}

/** The manifest entry of the sm_80 kernel of `phase` for this problem on this device. */
export function sm80Entry(device: CudaDevice, phase: Phase, p: Pick<AttentionProblem, 'dtype' | 'd'>): KernelEntry {
  return selectKernel(kernelManifest().kernels, phase, p.dtype as KernelDtype, p.d, device.sharedMemoryPerBlockOptin);
}

/** The sm_80 kernel of `phase` for this problem on this device. */
export function resolveKernel(device: CudaDevice, phase: Phase, p: AttentionProblem): ResolvedKernel {
  return resolveEntry(device, sm80Entry(device, phase, p), p);
}

/**
 * A manifest entry already chosen (a Hopper kernel), loaded and with its grid for this problem on `multiprocessors`
 * (all of the device's unless another grid keeps some for the whole launch).
 */
export function resolveEntry(device: CudaDevice, entry: KernelEntry, p: AttentionProblem, multiprocessors = device.multiprocessorCount): ResolvedKernel {
  return { entry, fn: kernelsOf(device).function(entry), grid: launchGrid(entry, p, multiprocessors) };
}

/**
 * A kernel of another fatbin in the kernel directory (ring attention's helpers, kernels/build/ring_ops.fatbin),
 * loaded into the device's context once and unloaded with it. Pass the same `source` object every time.
 */
export function kernelFunction(device: CudaDevice, source: KernelSource): CUfunction {
  return kernelsOf(device).function(source);
}

/**
 * Whether this kernel waits for the grid before it on this device, so that it may be launched to overlap that grid:
 * the build says so of its sm_90 and sm_90a machine code (follow_previous_grid in kernels/sm80/flash_sm80.cu, the
 * barrier set-up of the Hopper kernels), which runs on compute capability 9.x. Newer cards run the sm_80 family from
 * its compute_80 PTX, which has no such wait; an older build's kernels have none anywhere.
 */
function waitsForPreviousGrid(device: CudaDevice, entry: KernelEntry): boolean {
  return entry.waitsForPreviousGrid === true && device.computeCapability[0] === 9;
}

export function launchKernel(device: CudaDevice, kernel: ResolvedKernel, params: Uint8Array): void {
  device.launch(kernel.fn, kernel.grid, kernel.entry.threads, kernel.entry.smemBytes, params, waitsForPreviousGrid(device, kernel.entry));
  logLaunch(device.label, kernel.entry.phase, kernelLabel(kernel.entry), kernel.grid);
}
