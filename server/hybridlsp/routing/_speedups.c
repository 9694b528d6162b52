/* head_sums: the integer half of LearnedModel.logit_of_head (learned.py), in C.
 *
 * Why: `route --jsonl` decides a short prompt (~80 tokens) in ~33 us of parsing and counting, and
 * the learned estimate's sets and lookups over those ids cost another ~20 us of Python. Here they
 * cost ~1.3 us. learned.py's `_head_sums` is the reference and the fallback: this returns exactly
 * what it returns, or None where it leaves the work to it (an item that is not a non-negative int
 * that fits in 64 bits: rare, and Python then fails or succeeds exactly as it always did).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_HEAD 256       /* longest head read; HEAD_TOKENS is 128 */

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(addr) __builtin_prefetch(addr)
#else
#define PREFETCH(addr) ((void)0)
#endif
#define SLOTS (2 * MAX_HEAD) /* open addressing, at most half full */

/* Adds `key` to a set of `mask + 1` slots (-1 = empty); 1 if it was not there. */
static int
add_new(int64_t *slots, uint64_t mask, int64_t key)
{
    uint64_t i = ((uint64_t)key * 0x9E3779B97F4A7C15u) >> 32;
    for (;; i++) {
        int64_t *s = &slots[i & mask];
        if (*s == key)
            return 0;
        if (*s < 0) {
            *s = key;
            return 1;
        }
    }
}

static int
int16_buffer(PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->itemsize != 2 || !view->format || strcmp(view->format, "h") != 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "weights must be an array('h')");
        return -1;
    }
    return 0;
}

/* head_sums(head, unigrams, bigrams, head_tokens, mix, buckets) -> (total, n) or None */
static PyObject *
head_sums(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "head_sums takes 6 arguments");
        return NULL;
    }
    Py_ssize_t head_tokens = PyLong_AsSsize_t(args[3]);
    long long mix = PyLong_AsLongLong(args[4]);
    long long buckets = PyLong_AsLongLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (head_tokens < 0 || head_tokens > MAX_HEAD || mix < 0 || buckets <= 0) {
        PyErr_SetString(PyExc_ValueError, "head_sums: head_tokens must be 0..256, mix >= 0, buckets > 0");
        return NULL;
    }

    /* head[:head_tokens], as Python slices it; a list or tuple is read in place */
    PyObject *seq;
    if (PyList_CheckExact(args[0]) || PyTuple_CheckExact(args[0])) {
        seq = Py_NewRef(args[0]);
    } else {
        PyObject *stop = PyLong_FromSsize_t(head_tokens), *cut = stop ? PySlice_New(NULL, stop, NULL) : NULL;
        PyObject *part = cut ? PyObject_GetItem(args[0], cut) : NULL;
        Py_XDECREF(stop);
        Py_XDECREF(cut);
        seq = part ? PySequence_Fast(part, "head must be a sequence of ints") : NULL;
        Py_XDECREF(part);
        if (!seq)
            return NULL;
    }
    Py_ssize_t len = Py_MIN(PySequence_Fast_GET_SIZE(seq), head_tokens);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int64_t ids[MAX_HEAD], top = -1;
    for (Py_ssize_t i = 0; i < len; i++) {
        /* ints only: converting anything else (__index__) could run Python code */
        long long v = PyLong_Check(items[i]) ? PyLong_AsLongLong(items[i]) : -1;
        if (v < 0) {
            Py_DECREF(seq);
            PyErr_Clear();  /* an overflow: Python's path raises its own error, or copes */
            Py_RETURN_NONE;
        }
        ids[i] = v;
        top = Py_MAX(top, v);
    }
    Py_DECREF(seq);
    if (top > 0 && (uint64_t)mix > (UINT64_MAX - (uint64_t)top) / (uint64_t)top)
        Py_RETURN_NONE;  /* a * mix + b would overflow 64 bits: Python's ints do not */

    Py_buffer uni, bi;
    if (int16_buffer(args[1], &uni) < 0)
        return NULL;
    if (int16_buffer(args[2], &bi) < 0) {
        PyBuffer_Release(&uni);
        return NULL;
    }
    const int16_t *uw = uni.buf, *bw = bi.buf;
    Py_ssize_t n_uni = uni.len / 2, n_bi = bi.len / 2;
    long long total = 0;
    Py_ssize_t n = 0;
    if (top >= n_uni)
        goto out_of_range;

    /* Ask for every weight first: after tokenizing, the 330 kB of weights are mostly out of the
     * nearer caches, and ~160 lookups one after another each wait for memory (in `route --jsonl`
     * this saved ~0.5 us of ~5 a prompt). */
    int64_t pairs[MAX_HEAD];
    for (Py_ssize_t i = 0; i < len; i++) {
        PREFETCH(&uw[ids[i]]);
        if (i + 1 < len) {
            pairs[i] = (int64_t)(((uint64_t)ids[i] * (uint64_t)mix + (uint64_t)ids[i + 1]) % (uint64_t)buckets);
            if (pairs[i] >= n_bi)
                goto out_of_range;
            PREFETCH(&bw[pairs[i]]);
        }
    }

    uint64_t mask = 7;
    while (mask + 1 < 2 * (uint64_t)len)
        mask = 2 * mask + 1;
    int64_t slots[SLOTS];
    memset(slots, 0xff, (mask + 1) * sizeof slots[0]);
    for (Py_ssize_t i = 0; i < len; i++)
        if (add_new(slots, mask, ids[i])) {
            total += uw[ids[i]];
            n++;
        }
    memset(slots, 0xff, (mask + 1) * sizeof slots[0]);
    for (Py_ssize_t i = 0; i + 1 < len; i++)
        if (add_new(slots, mask, pairs[i])) {
            total += bw[pairs[i]];
            n++;
        }
    PyBuffer_Release(&uni);
    PyBuffer_Release(&bi);
    return Py_BuildValue("(Ln)", total, n);

out_of_range:  /* what array.__getitem__ raises */
    PyBuffer_Release(&uni);
    PyBuffer_Release(&bi);
    PyErr_SetString(PyExc_IndexError, "array index out of range");
    return NULL;
}

static PyMethodDef methods[] = {
    {"head_sums", (PyCFunction)(void (*)(void))head_sums, METH_FASTCALL,
     "head_sums(head, unigrams, bigrams, head_tokens, mix, buckets) -> (total, n), or None to "
     "leave the head to learned._head_sums"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups = {PyModuleDef_HEAD_INIT, .m_name = "_speedups", .m_methods = methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups);
}
