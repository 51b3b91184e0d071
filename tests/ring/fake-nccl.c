/*
 * A fake libnccl.so.2 for testing the koffi bindings and the NCCL transport without GPUs. "Device
 * pointers" are host pointers; sends and receives queued inside a group are matched at ncclGroupEnd
 * (per (sender, receiver) pair, in order) and copied with memcpy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int rank; int nranks; } Comm;
typedef struct { int isSend; void *buf; size_t count; int self; int peer; } Op;

static Op ops[4096];
static int opCount = 0;
static int depth = 0;
static int liveComms = 0;
static int destroyFailures = 0;
static int groupEndFailures = 0;
static int initRankCalls = 0;
static int enqueued = 0;

/*
 * Test hooks, not NCCL API: communicators created and not yet destroyed; make the next n ncclCommDestroy fail;
 * make the next n outermost ncclGroupEnd fail (after matching what was queued, as a failed launch would);
 * ncclCommInitRank calls so far; sends and receives queued so far.
 */
int fakeNcclLiveComms(void) { return liveComms; }
void fakeNcclFailDestroys(int n) { destroyFailures = n; }
void fakeNcclFailGroupEnds(int n) { groupEndFailures = n; }
int fakeNcclInitRankCalls(void) { return initRankCalls; }
int fakeNcclEnqueued(void) { return enqueued; }

int ncclGetVersion(int *version) { *version = 22105; return 0; }

int ncclGetUniqueId(ncclUniqueId *id) {
  for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 3 + 1);
  return 0;
}

int ncclCommInitRank(Comm **comm, int nranks, ncclUniqueId id, int rank) {
  initRankCalls++;
  if (rank < 0 || rank >= nranks || id.internal[1] != 4) return 4; /* ncclInvalidArgument */
  *comm = malloc(sizeof(Comm));
  liveComms++;
  (*comm)->rank = rank;
  (*comm)->nranks = nranks;
  return 0;
}

int ncclCommInitAll(Comm **comms, int ndev, const int *devlist) {
  for (int i = 0; i < ndev; i++) {
    comms[i] = malloc(sizeof(Comm));
    liveComms++;
    comms[i]->rank = i;
    comms[i]->nranks = ndev;
  }
  return devlist == 0 ? 4 : 0;
}

int ncclCommDestroy(Comm *comm) {
  if (destroyFailures > 0) {
    destroyFailures--;
    return 1; /* ncclUnhandledCudaError, and the communicator stays */
  }
  free(comm);
  liveComms--;
  return 0;
}

static int push(int isSend, void *buf, size_t count, int datatype, int peer, Comm *comm) {
  if (datatype != 1 || peer < 0 || peer >= comm->nranks || opCount == 4096) return 4;
  ops[opCount++] = (Op){ isSend, buf, count, comm->rank, peer };
  enqueued++;
  return depth > 0 ? 0 : 5; /* outside a group this fake would deadlock: ncclInvalidUsage */
}

int ncclSend(const void *buf, size_t count, int datatype, int peer, Comm *comm, void *stream) {
  (void)stream;
  return push(1, (void *)buf, count, datatype, peer, comm);
}

int ncclRecv(void *buf, size_t count, int datatype, int peer, Comm *comm, void *stream) {
  (void)stream;
  return push(0, buf, count, datatype, peer, comm);
}

int ncclGroupStart(void) { depth++; return 0; }

int ncclGroupEnd(void) {
  if (--depth > 0) return 0;
  int result = 0;
  for (int r = 0; r < opCount; r++) {
    if (ops[r].isSend) continue;
    int matched = 0;
    for (int s = 0; s < opCount; s++) {
      if (ops[s].isSend == 1 && ops[s].self == ops[r].peer && ops[s].peer == ops[r].self) {
        if (ops[s].count != ops[r].count) result = 4;
        else memcpy(ops[r].buf, ops[s].buf, ops[r].count);
        ops[s].isSend = 2; /* consumed */
        matched = 1;
        break;
      }
    }
    if (!matched) result = 6; /* ncclRemoteError: nobody sent */
  }
  opCount = 0;
  if (groupEndFailures > 0) {
    groupEndFailures--;
    return 3; /* ncclInternalError */
  }
  return result;
}

const char *ncclGetErrorString(int result) {
  return result == 4 ? "invalid argument (fake)" : result == 5 ? "invalid usage (fake)" : "fake error";
}
