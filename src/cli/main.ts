#!/usr/bin/env node
import { parseArgs } from 'node:util';
import '../index.js';  // the package's entry registers the backends
import { deviceListing } from '../devices.js';
import { isDtype } from '../dtype.js';
import { FlashAttentionError } from '../errors.js';
import { defaultDevice, deviceFlag } from './args.js';
import { benchCommand } from './bench-command.js';
import { ringBenchCommand } from './ring-bench-command.js';
import { demo } from './demo.js';

const USAGE = `flash-attn: FlashAttention for TypeScript

  flash-attn demo  [--device D] [--dtype T]  forward + backward on a realistic problem, checked against float64
  flash-attn bench [options]        time forward and backward over a grid and print a table
  flash-attn devices                list the devices this process can use

bench options:
  --device D         cpu, cpu:N, cuda, cuda:N (default: the first GPU devices lists, else cpu:0)
  --dtype T          float32 | float16 | bfloat16 (default: bfloat16 on cuda, float32 on cpu)
  --d 64,128         head dims            --l 512,2048    sequence lengths (lq = lk)
  --n N --h H        batch and heads; on cuda each one not given is the standard grid's (n = 16384/l,
                     h = 2048/d), on cpu n = 1 and h = 8
  --causal both|yes|no                    --repeats R     timed repeats, median reported (default 30
                                                          on cuda, 3 on cpu)
  --warmup W         untimed runs before timing (default 5 on cuda, 1 on cpu; on cuda the first case
                     goes on in rounds of W, and the first --ring job run by run, until they have run
                     for 0.5 s)
  --sustain-ms M     time each pass (ours and the peers') after M ms of its own calls back to back, at the
                     clock the card's power cap settles to, instead of after --warmup calls
  --json             print JSON instead of a table
  --save FILE        also write the JSON (with machine, date, commit) to FILE
  --no-peers         on cuda, skip timing PyTorch's flash and cuDNN attention in the same run
  --ring             ring attention: per-device throughput and scaling efficiency against one device;
                     --world 1,2,4 ring sizes (W devices from --device on, or W virtual ranks on --device
                     where fewer are left), --l tokens per device, --layout zigzag|contiguous|both, one --d
                     and --h (default 2048/d on cuda, 4 on cpu), --repeats default 3;
                     --n, --save, --sustain-ms and --no-peers do not apply`;

/** A flag the chosen mode would ignore is refused, so that no one reads a result as one it is not. */
function refuseUnused(flags: Record<string, unknown>, mode: string): void {
  const given = Object.keys(flags).filter((name) => flags[name] !== undefined);
  if (given.length > 0) throw new FlashAttentionError('ERR_USAGE', `${given.map((name) => `--${name}`).join(', ')}: not used by bench ${mode}`);
}

const COMMANDS = ['demo', 'bench', 'devices', 'help'];

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // Help for a command there is; an unknown one is refused below, --help or not.
  if ((command === undefined || COMMANDS.includes(command)) && (rest.includes('--help') || rest.includes('-h'))) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'demo' || command === undefined) {
    const { values } = parseArgs({ args: rest, options: { device: { type: 'string' }, dtype: { type: 'string' } } });
    if (values.dtype !== undefined && !isDtype(values.dtype)) {
      throw new FlashAttentionError('ERR_USAGE', `--dtype: expected float32, float16 or bfloat16, got '${values.dtype}'`);
    }
    return (await demo(deviceFlag(values.device ?? defaultDevice()), console.log, values.dtype)) ? 0 : 1;
  }
  if (command === 'devices') {
    parseArgs({ args: rest, options: {} });  // it takes no options: a stray one is refused, not ignored
    const { usable, unusable } = deviceListing();
    console.log(usable.join('\n'));
    for (const { name, reason } of unusable) console.error(`flash-attn: ${name} left out: ${reason}`);
    return 0;
  }
  if (command === 'bench') {
    const { values } = parseArgs({
      args: rest,
      options: {
        device: { type: 'string' },
        dtype: { type: 'string' },
        d: { type: 'string' },
        l: { type: 'string' },
        n: { type: 'string' },
        h: { type: 'string' },
        causal: { type: 'string', default: 'both' },
        repeats: { type: 'string' },
        warmup: { type: 'string' },
        'sustain-ms': { type: 'string' },
        json: { type: 'boolean', default: false },
        save: { type: 'string' },
        'no-peers': { type: 'boolean', default: false },
        ring: { type: 'boolean', default: false },
        world: { type: 'string' },
        layout: { type: 'string' },
      },
    });
    const device = deviceFlag(values.device ?? defaultDevice());
    const dtype = values.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32');
    if (!isDtype(dtype)) throw new FlashAttentionError('ERR_USAGE', `--dtype: expected float32, float16 or bfloat16, got '${dtype}'`);
    refuseUnused(values.ring ? { n: values.n, save: values.save, 'no-peers': values['no-peers'] || undefined, 'sustain-ms': values['sustain-ms'] } : { world: values.world, layout: values.layout }, values.ring ? 'with --ring' : 'without --ring');
    if (!values.ring && device.startsWith('cpu')) refuseUnused({ 'no-peers': values['no-peers'] || undefined }, 'on the cpu (peers are timed on cuda only)');
    if (values.ring) return ringBenchCommand({ ...values, device, dtype });
    return benchCommand({ ...values, device, dtype, peers: !values['no-peers'] });
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  console.error(`unknown command '${command}'\n\n${USAGE}`);
  return 2;
}

function errorCode(error: unknown): unknown {
  return error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
}

function isParseArgsError(error: unknown): error is Error {
  const code = errorCode(error);
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

// Exit statuses: 2 for a command line the CLI cannot take (as most command-line tools do), 1 for a failure of the work.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // parseArgs's own errors (an unknown option, an option without its value) are the user's typing, not a crash.
    if (isParseArgsError(error)) {
      console.error(`flash-attn: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    // A flag's value the CLI cannot use, or a flag the mode would ignore: the reason alone, the usage on request.
    if (errorCode(error) === 'ERR_USAGE') {
      console.error(`flash-attn: ${(error as Error).message} (flash-attn --help lists the options)`);
      process.exit(2);
    }
    console.error(error instanceof FlashAttentionError ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  },
);
