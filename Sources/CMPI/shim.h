// Thin shim over Open MPI. MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM,
// MPI_IN_PLACE, ...) are macros Swift cannot import, so every call that needs
// one is wrapped here as a `static inline` forwarder with the `dtmpi_` prefix.
// This module is not an API: Sources/Distributed/MPICommunicator.swift is.
#ifndef DIST_TRAIN_CMPI_SHIM_H
#define DIST_TRAIN_CMPI_SHIM_H
#include <mpi.h>
#include <stdint.h>

static inline int dtmpi_success(void) { return MPI_SUCCESS; }

/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED; errors come back as codes
/// (MPI_ERRORS_RETURN) so Swift can turn them into typed errors.
static inline int dtmpi_init(int *provided) {
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
    if (rc == MPI_SUCCESS) MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return rc;
}
static inline int dtmpi_initialized(void) { int f = 0; MPI_Initialized(&f); return f; }
static inline int dtmpi_finalized(void) { int f = 0; MPI_Finalized(&f); return f; }
static inline int dtmpi_finalize(void) { return MPI_Finalize(); }
static inline int dtmpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
static inline int dtmpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }
static inline int dtmpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline int dtmpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

static inline int dtmpi_allreduce_sum_float(float *buf, int64_t n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static inline int dtmpi_allreduce_sum_double(double *buf, int64_t n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static inline int dtmpi_allreduce_sum_int64(int64_t *buf, int64_t n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}
static inline int dtmpi_allreduce_max_int64(int64_t *buf, int64_t n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
}
static inline int dtmpi_bcast_bytes(void *buf, int64_t n, int root) {
    return MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
}
/// Gathers `count` bytes from every rank into `recv` on `root`
/// (`counts`/`displs` in bytes, only read on root).
static inline int dtmpi_gatherv_bytes(const void *send, int count, void *recv,
                                      const int *counts, const int *displs, int root) {
    return MPI_Gatherv(send, count, MPI_BYTE, recv, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
}
static inline int dtmpi_allgather_int64(int64_t value, int64_t *out) {
    return MPI_Allgather(&value, 1, MPI_INT64_T, out, 1, MPI_INT64_T, MPI_COMM_WORLD);
}
/// Non-blocking in-place sum; complete it with dtmpi_wait (dtmpi_test drives progress).
static inline int dtmpi_iallreduce_sum_float(float *buf, int64_t n, MPI_Request *request) {
    return MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, request);
}
/// MPI_Ibarrier, completed with dtmpi_test / dtmpi_wait.
static inline int dtmpi_ibarrier(MPI_Request *request) { return MPI_Ibarrier(MPI_COMM_WORLD, request); }
static inline int dtmpi_wait(MPI_Request *request) { return MPI_Wait(request, MPI_STATUS_IGNORE); }
static inline int dtmpi_test(MPI_Request *request, int *done) { return MPI_Test(request, done, MPI_STATUS_IGNORE); }

/// Writes MPI's text for an error code into `buf` (at least MPI_MAX_ERROR_STRING bytes).
static inline void dtmpi_error_string(int code, char *buf, int cap) {
    char tmp[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, tmp, &len);
    if (len >= cap) len = cap - 1;
    for (int i = 0; i < len; i++) buf[i] = tmp[i];
    buf[len] = 0;
}
#endif
