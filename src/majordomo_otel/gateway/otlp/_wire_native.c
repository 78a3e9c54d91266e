/* One span in C: the same bytes as encode.py's pure-Python path, in a fraction of its time.
 *
 * One function, `span(trace, span_id, state, parent_id, name, kind, start_ns, end_ns, attributes, tail,
 * fallback)`: a `ScopeSpans.spans` field holding a Span of `trace` (its field, already encoded), the
 * span id, `state` (encoded), the parent id (0: none), `name` (encoded), kind and times, then each
 * attribute of the dict as a `KeyValue` (field 9), then `tail` (status, flags, encoded). Values of the common exact types (str, bool,
 * int within int64, float) are encoded here; anything else (a nested value, bytes, None, a huge int, a
 * string that is not valid UTF-8, a non-str key) goes to `fallback(key, value)`, the pure-Python
 * `key_value` bound to field 9, so both paths always produce the same bytes (tests compare them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int grow(Buf *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more) cap *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int put(Buf *b, const char *src, Py_ssize_t n) {
    if (grow(b, n) < 0) return -1;
    memcpy(b->data + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static Py_ssize_t varint_size(uint64_t v) {
    Py_ssize_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes into room reserved by the caller. */
static void varint_into(Buf *b, uint64_t v) {
    while (v >= 0x80) {
        b->data[b->len++] = (char)(v & 0x7F | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (char)v;
}

/* KeyValue (as field 9 of Span) for a str key and an already-classified value; 1 = not handled here. */
static int key_value(Buf *b, PyObject *key, PyObject *value) {
    Py_ssize_t key_len;
    const char *key_utf8;
    if (!PyUnicode_CheckExact(key)) return 1;
    key_utf8 = PyUnicode_AsUTF8AndSize(key, &key_len);
    if (key_utf8 == NULL) {
        PyErr_Clear(); /* a lone surrogate: wire.text replaces it */
        return 1;
    }
    /* AnyValue */
    Py_ssize_t any_len;
    const char *text = NULL;
    Py_ssize_t text_len = 0;
    unsigned char any_tag;
    uint64_t number = 0;
    double real = 0.0;
    if (PyUnicode_CheckExact(value)) {
        text = PyUnicode_AsUTF8AndSize(value, &text_len);
        if (text == NULL) {
            PyErr_Clear();
            return 1;
        }
        any_tag = 0x0A;
        any_len = 1 + varint_size((uint64_t)text_len) + text_len;
    } else if (PyBool_Check(value)) {
        any_tag = 0x10;
        number = value == Py_True;
        any_len = 2;
    } else if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (n == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 1; /* outside int64: wire.py sends it as a double */
        }
        any_tag = 0x18;
        number = (uint64_t)n;
        any_len = 1 + varint_size(number);
    } else if (PyFloat_CheckExact(value)) {
        any_tag = 0x21;
        real = PyFloat_AS_DOUBLE(value);
        any_len = 9;
    } else {
        return 1;
    }
    Py_ssize_t key_field = key_len ? 1 + varint_size((uint64_t)key_len) + key_len : 0;
    Py_ssize_t inner = key_field + 1 + varint_size((uint64_t)any_len) + any_len;
    if (grow(b, 1 + varint_size((uint64_t)inner) + inner) < 0) return -1;
    b->data[b->len++] = 0x4A;
    varint_into(b, (uint64_t)inner);
    if (key_len) {
        b->data[b->len++] = 0x0A;
        varint_into(b, (uint64_t)key_len);
        memcpy(b->data + b->len, key_utf8, (size_t)key_len);
        b->len += key_len;
    }
    b->data[b->len++] = 0x12;
    varint_into(b, (uint64_t)any_len);
    b->data[b->len++] = (char)any_tag;
    switch (any_tag) {
        case 0x0A:
            varint_into(b, (uint64_t)text_len);
            memcpy(b->data + b->len, text, (size_t)text_len);
            b->len += text_len;
            break;
        case 0x10:
        case 0x18:
            varint_into(b, number);
            break;
        default: { /* fixed64, little-endian */
            uint64_t bits;
            memcpy(&bits, &real, 8);
            for (int i = 0; i < 8; i++) b->data[b->len++] = (char)(bits >> (8 * i));
        }
    }
    return 0;
}

static int put_id(Buf *b, unsigned char tag, PyObject *id) {
    unsigned long long n = PyLong_AsUnsignedLongLong(id);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (grow(b, 10) < 0) return -1;
    b->data[b->len++] = (char)tag;
    b->data[b->len++] = 8;
    for (int i = 7; i >= 0; i--) b->data[b->len++] = (char)(n >> (8 * i)); /* big-endian, as OTLP's ids */
    return 0;
}

static int put_fixed64(Buf *b, unsigned char tag, PyObject *value) {
    unsigned long long n = PyLong_AsUnsignedLongLong(value);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (grow(b, 9) < 0) return -1;
    b->data[b->len++] = (char)tag;
    for (int i = 0; i < 8; i++) b->data[b->len++] = (char)(n >> (8 * i));
    return 0;
}

static int put_bytes(Buf *b, PyObject *bytes) {
    return put(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* span(trace, span_id, state, parent_id, name, kind, start_ns, end_ns, attributes, tail, fallback) */
static PyObject *span(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[2]) || !PyBytes_Check(args[4]) ||
        !PyDict_Check(args[8]) || !PyBytes_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError,
                        "span(trace: bytes, span_id: int, state: bytes, parent_id: int, name: bytes, kind: int, "
                        "start_ns: int, end_ns: int, attributes: dict, tail: bytes, fallback)");
        return NULL;
    }
    PyObject *attributes = args[8], *fallback = args[10];
    Buf b = {NULL, 0, 0};
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    long kind = PyLong_AsLong(args[5]);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (put_bytes(&b, args[0]) < 0 || put_id(&b, 0x12, args[1]) < 0 || put_bytes(&b, args[2]) < 0) goto error;
    int has_parent = PyObject_IsTrue(args[3]);
    if (has_parent < 0 || (has_parent && put_id(&b, 0x22, args[3]) < 0)) goto error;
    if (put_bytes(&b, args[4]) < 0 || grow(&b, 2) < 0) goto error;
    b.data[b.len++] = 0x30; /* kind: a varint below 128 */
    b.data[b.len++] = (char)(kind & 0x7F);
    if (put_fixed64(&b, 0x39, args[6]) < 0 || put_fixed64(&b, 0x41, args[7]) < 0) goto error;
    while (PyDict_Next(attributes, &pos, &key, &value)) {
        int done = key_value(&b, key, value);
        if (done < 0) goto error;
        if (done == 1) {
            Py_INCREF(key); /* borrowed from the dict, which Python code may change while it runs */
            Py_INCREF(value);
            PyObject *encoded = PyObject_CallFunctionObjArgs(fallback, key, value, NULL);
            Py_DECREF(key);
            Py_DECREF(value);
            if (encoded == NULL) goto error;
            if (!PyBytes_Check(encoded)) {
                Py_DECREF(encoded);
                PyErr_SetString(PyExc_TypeError, "fallback must return bytes");
                goto error;
            }
            int failed = put_bytes(&b, encoded);
            Py_DECREF(encoded);
            if (failed < 0) goto error;
        }
    }
    if (put_bytes(&b, args[9]) < 0) goto error;
    /* ScopeSpans.spans: tag 2, length-delimited */
    Py_ssize_t prefix = 1 + varint_size((uint64_t)b.len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, prefix + b.len);
    if (out == NULL) goto error;
    char *dst = PyBytes_AS_STRING(out);
    Buf framing = {dst, 0, prefix};
    framing.data[framing.len++] = 0x12;
    varint_into(&framing, (uint64_t)b.len);
    memcpy(dst + prefix, b.data, (size_t)b.len);
    PyMem_Free(b.data);
    return out;
error:
    PyMem_Free(b.data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"span", (PyCFunction)(void (*)(void))span, METH_FASTCALL,
     "span(trace, span_id, state, parent_id, name, kind, start_ns, end_ns, attributes, tail, fallback) -> bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire_native(void) { return PyModule_Create(&module); }
