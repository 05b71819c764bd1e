# cython: language_level=3
"""dnn/_team.h's team of threads, for ``dnn._loop`` and ``dnn._train``."""

cdef extern from "_team.h" nogil:
    ctypedef void (*dnn_team_fn)(void* ctx, int chunk) noexcept nogil
    ctypedef struct dnn_team:
        int size
    int dnn_team_start(dnn_team* t, int size)
    void dnn_team_run(dnn_team* t, dnn_team_fn fn, void* ctx, int n)
    void dnn_team_stop(dnn_team* t)
    long dnn_team_pid()
