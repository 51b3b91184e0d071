import { randomBytes } from 'node:crypto';
import { type Socket, connect, createServer } from 'node:net';
import { OptionError, describe } from '../errors.js';
import { checkOptionKeys, optionOr } from '../options.js';
import { DistributedError } from './errors.js';
import { ncclUniqueId } from './nccl.js';

export interface DistributedOptions {
  /** 'host:port' where rank 0 listens (like jax.distributed.initialize's coordinator_address). */
  coordinator: string;
  rank: number;
  worldSize: number;
  /** How long to wait for the whole group, in milliseconds (default 60000). */
  timeoutMs?: number;
  /**
   * The bytes rank 0 hands to every rank. Default: a fresh NCCL unique id (ncclGetUniqueId, 128 bytes),
   * which needs libnccl.so.2 on rank 0. Ignored on other ranks.
   */
  uniqueId?: Uint8Array;
  /**
   * false for a group that will not use NCCL (rings of CPU devices over TCP): rank 0 then makes a random
   * 16-byte group id instead of asking libnccl.so.2 for a unique id. Default true.
   */
  nccl?: boolean;
}
const DISTRIBUTED_OPTION_NAMES = ['coordinator', 'rank', 'worldSize', 'timeoutMs', 'uniqueId', 'nccl'];

/** What every rank knows once the group has formed: enough to create its NCCL communicator. */
export interface DistributedContext {
  rank: number;
  worldSize: number;
  coordinator: string;
  /** The same bytes on every rank (the ncclUniqueId for ncclCommInitRank). */
  uniqueId: Uint8Array;
}

const PROTOCOL = 'flash-attn-distributed/1';

/** What a rendezvous round carries: any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Hello {
  type: 'hello';
  protocol: string;
  /** Which round of the bootstrap ('init', 'ring'): a stray rank from another round is refused. */
  round: string;
  rank: number;
  worldSize: number;
  payload: Json;
}
type ServerMessage = { type: 'reply'; round: string; data: Json } | { type: 'error'; message: string };

export function parseCoordinator(coordinator: unknown): { host: string; port: number } {
  const match = typeof coordinator === 'string' ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(coordinator) : null;
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 1 && port <= 65535)) {
    throw new OptionError(`coordinator: expected 'host:port' with a port in 1..65535, got ${describe(coordinator)}`);
  }
  return { host: match[1], port };
}

function checkOptions(o: DistributedOptions): { host: string; port: number; timeoutMs: number } {
  checkOptionKeys(o, DISTRIBUTED_OPTION_NAMES);
  const address = parseCoordinator(o.coordinator);
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) {
    throw new OptionError(`worldSize: expected a positive integer, got ${describe(o.worldSize)}`);
  }
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize) {
    throw new OptionError(`rank: expected an integer in 0..${o.worldSize - 1} (worldSize ${o.worldSize}), got ${describe(o.rank)}`);
  }
  // optionOr: left out (undefined) takes the default; null is refused below like any other wrong value.
  const timeoutMs = optionOr(o.timeoutMs, 60_000);
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
    throw new OptionError(`timeoutMs: expected a positive number, got ${describe(timeoutMs)}`);
  }
  if (o.nccl !== undefined && typeof o.nccl !== 'boolean') {
    throw new OptionError(`nccl: expected a boolean (false: a group without NCCL), got ${describe(o.nccl)}`);
  }
  if (o.uniqueId !== undefined && !(o.uniqueId instanceof Uint8Array && o.uniqueId.length > 0)) {
    throw new OptionError(`uniqueId: expected a non-empty Uint8Array, got ${describe(o.uniqueId)}`);
  }
  return { ...address, timeoutMs };
}

/** Calls `onMessage` with each newline-terminated JSON message arriving on `socket`. */
function readMessages(socket: Socket, onMessage: (message: unknown) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        message = { type: 'garbage', line: line.slice(0, 80) };
      }
      onMessage(message);
    }
  });
}

function send(socket: Socket, message: Hello | ServerMessage): void {
  socket.write(`${JSON.stringify(message)}\n`);
}

/**
 * Forms a group of `worldSize` processes, like `jax.distributed.initialize`: rank 0 listens on the
 * coordinator address, every other rank connects (retrying until rank 0 is up), and once all have said
 * hello rank 0 sends each of them the same unique id. Fails with a DistributedError naming the cause
 * (unreachable coordinator, timeout and which ranks are missing, mismatched worldSize, duplicate rank).
 */
export async function initDistributed(options: DistributedOptions): Promise<DistributedContext> {
  const { host, port, timeoutMs } = checkOptions(options);
  const { rank, worldSize, coordinator } = options;
  const round: Round = { label: 'initDistributed', name: 'init', what: 'unique id', host, port, rank, worldSize, timeoutMs };
  if (rank === 0) {
    const uniqueId = options.uniqueId ?? (options.nccl === false ? new Uint8Array(randomBytes(16)) : ncclUniqueId());
    if (worldSize > 1) await rendezvous(round, null, () => Buffer.from(uniqueId).toString('base64'));
    return { rank, worldSize, coordinator, uniqueId: uniqueId.slice() };
  }
  const id = await rendezvous(round, null);
  if (typeof id !== 'string') throw new DistributedError(`initDistributed: rank ${rank} received no unique id from the coordinator`);
  return { rank, worldSize, coordinator, uniqueId: new Uint8Array(Buffer.from(id, 'base64')) };
}

/** One round of the bootstrap through the coordinator. */
export interface Round {
  /** the API that runs it, for messages ('initDistributed', 'joinRing') */
  label: string;
  /** the round's name on the wire */
  name: string;
  /** what the other ranks wait for, for messages */
  what: string;
  host: string;
  port: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
}

/** Where a rank's hello came from, as rank 0 saw it (the address other processes can reach it at). */
export interface Joined {
  payload: Json;
  remoteAddress: string;
}

/**
 * Every rank sends `payload` to rank 0; rank 0 waits for all of them, computes one reply with
 * `reply(joined by rank)` and sends it to every rank; everyone resolves with the reply. Rank 0's own
 * entry has the coordinator host as its address.
 */
export function rendezvous(round: Round, payload: Json, reply?: (joined: Joined[]) => Json): Promise<Json> {
  if (round.rank !== 0) return fetchReply(round, payload);
  if (!reply) throw new TypeError('rendezvous: rank 0 needs a reply function');
  const own: Joined = { payload, remoteAddress: round.host };
  if (round.worldSize === 1) return Promise.resolve(reply([own]));
  return serveReply(round, own, reply);
}

function serveReply(round: Round, own: Joined, reply: (joined: Joined[]) => Json): Promise<Json> {
  const { label, host, port, worldSize, timeoutMs } = round;
  return new Promise((resolve, reject) => {
    const joined = new Map<number, { socket: Socket; entry: Joined }>();
    const sockets = new Set<Socket>();
    const server = createServer();
    const finish = (error?: DistributedError, data?: Json) => {
      clearTimeout(timer);
      for (const s of sockets) {
        if (error && !s.destroyed) send(s, { type: 'error', message: error.message });
        s.end();
      }
      server.close();
      if (error) reject(error);
      else resolve(data ?? null);
    };
    const timer = setTimeout(() => {
      const missing = Array.from({ length: worldSize - 1 }, (_, i) => i + 1).filter((r) => !joined.has(r));
      finish(new DistributedError(`${label}: rank 0 waited ${timeoutMs} ms at ${host}:${port}; ranks ${describe(missing)} of ${worldSize} never joined`));
    }, timeoutMs);
    server.on('error', (e: NodeJS.ErrnoException) => {
      finish(new DistributedError(`${label}: rank 0 cannot listen on ${host}:${port}: ${e.code ?? e.message}`));
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('error', () => sockets.delete(socket));
      readMessages(socket, (message) => {
        const hello = message as Partial<Hello>;
        if (hello.type !== 'hello' || hello.protocol !== PROTOCOL || hello.round !== round.name) {
          finish(new DistributedError(`${label}: rank 0 received a message that is not a ${PROTOCOL} '${round.name}' hello`));
        } else if (hello.worldSize !== worldSize) {
          finish(new DistributedError(`${label}: rank ${hello.rank} has worldSize ${hello.worldSize}, rank 0 has ${worldSize}`));
        } else if (typeof hello.rank !== 'number' || hello.rank < 1 || hello.rank >= worldSize || joined.has(hello.rank)) {
          finish(new DistributedError(`${label}: rank ${describe(hello.rank)} joined twice or is out of range 1..${worldSize - 1}`));
        } else {
          joined.set(hello.rank, { socket, entry: { payload: hello.payload ?? null, remoteAddress: socket.remoteAddress ?? host } });
          if (joined.size === worldSize - 1) {
            let data: Json;
            try {
              data = reply([own, ...Array.from({ length: worldSize - 1 }, (_, i) => joined.get(i + 1)!.entry)]);
            } catch (error) {
              finish(error instanceof DistributedError ? error : new DistributedError(`${label}: ${(error as Error).message}`));
              return;
            }
            for (const { socket: s } of joined.values()) send(s, { type: 'reply', round: round.name, data });
            finish(undefined, data);
          }
        }
      });
    });
    server.listen(port, host);
  });
}

function fetchReply(round: Round, payload: Json): Promise<Json> {
  const { label, what, host, port, rank, worldSize, timeoutMs } = round;
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no answer';
    let settled = false;
    let socket: Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    const settle = (result: { data: Json } | DistributedError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(retry);
      socket?.destroy();
      if (result instanceof DistributedError) reject(result);
      else resolve(result.data);
    };
    const timer = setTimeout(() => {
      settle(new DistributedError(`${label}: rank ${rank} got no ${what} from the coordinator ${host}:${port} within ${timeoutMs} ms (last: ${lastError})`));
    }, timeoutMs);
    const attempt = () => {
      if (settled) return;
      const s = connect({ host, port });
      socket = s;
      s.on('connect', () => {
        lastError = 'connected, waiting for the other ranks';
        send(s, { type: 'hello', protocol: PROTOCOL, round: round.name, rank, worldSize, payload });
      });
      readMessages(s, (message) => {
        const m = message as Partial<ServerMessage>;
        if (m.type === 'reply' && m.round === round.name) settle({ data: m.data ?? null });
        else if (m.type === 'error') settle(new DistributedError(`${label}: the coordinator refused rank ${rank}: ${m.message}`));
        else settle(new DistributedError(`${label}: rank ${rank} received an unexpected message from the coordinator`));
      });
      s.on('error', (e: NodeJS.ErrnoException) => {
        lastError = e.code ?? e.message;
      });
      s.on('close', () => {
        // Rank 0 may not be listening yet: retry until the deadline.
        if (!settled && Date.now() < deadline) retry = setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}
