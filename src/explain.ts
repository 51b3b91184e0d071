/**
 * explain(q, k, v, options): which kernels flashMhaFwd and flashMhaBwd would launch for these inputs, without
 * running or allocating anything. Inputs go through the same front door as flashMha, so a call explain
 * accepts is a call flashMha accepts. explain has no dout: the backward it names assumes dout 16-byte aligned, as
 * every tensor this library allocates is; a dout wrapped from other memory at an unaligned address makes the real
 * backward fall back to the sm_80 kernel (FLASH_ATTN_LOG=1 shows what ran).
 */
import { backendOfDevice } from './backend.js';
import type { DeviceKind } from './device.js';
import { ShapeError } from './errors.js';
import { type AttentionOptions, attentionProblem } from './params.js';
import { ShardedTensor } from './ring/sharded.js';
import type { Tensor } from './tensor.js';

export interface KernelExplanation {
  backend: DeviceKind;
  /** Canonical device name, like 'cuda:0'. */
  device: string;
  /** Kernels in launch order, named as FLASH_ATTN_LOG=1 names them, like 'flash_fwd90_bf16_d128 (sm_90a)'. */
  forward: string[];
  backward: string[];
  /** Why the forward and the backward run what they do. */
  reason: string;
}

export function explain(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): KernelExplanation {
  // flashMha takes sharded inputs too; say why explain does not, rather than "expected a Tensor".
  const sharded = ([['q', q], ['k', k], ['v', v]] as const).find(([, t]) => (t as unknown) instanceof ShardedTensor);
  if (sharded) {
    throw new ShapeError(
      `${sharded[0]}: explain takes one device's tensors, got a ShardedTensor; a ring runs the single-device kernels on ` +
        'blocks of its shards, and FLASH_ATTN_LOG=1 names each launch',
    );
  }
  const p = attentionProblem(q, k, v, options);
  const backend = backendOfDevice(p.device);
  return { backend: backend.kind, device: p.device, ...backend.plan(p, q.storage('q'), k.storage('k'), v.storage('v')) };
}
