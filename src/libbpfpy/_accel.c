/*
 * libbpfpy._accel: the optional compiled part of the ring buffer reader.
 *
 * Walking a ring buffer is a chain: each record's header gives the offset of the
 * next, so it cannot be vectorised, and in Python each step costs ~0.5 us (a cache
 * miss plus bytecode).  Records of one size are walked in strided runs in Python;
 * records of varying sizes (e.g. 16..4000 bytes) need one step per record, which is
 * what this module does in C, together with copying the first bytes of each record
 * into a compact buffer.  Everything else stays in Python; without this module (or
 * with LIBBPFPY_ACCEL=0) the pure-Python walk gives the same results.
 *
 * Layout (see ringbuf.py): `ring` is the read-only mapping of the producer page
 * followed by the data area mapped twice, so a record that wraps around the end is
 * contiguous.  A record is an 8-byte header {u32 len; u32 pg_off} then `len` bytes;
 * bit 31 of len is BUSY (being written), bit 30 DISCARD; the next header is at
 * roundup(len + 8, 8).  x86 keeps loads in order, so an acquire load of each header
 * after the producer position is enough.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BUSY_BIT (1u << 31)
#define DISCARD_BIT (1u << 30)
#define HDR_SZ 8u

/*
 * walk(ring, base, cursor, prod, mask, limit, max_records, offs, lens)
 *     -> (n, consumed, bad_pos, bad_len, min_len, max_len)
 *
 * From ring position `cursor` up to `prod`, find committed records: stop at a BUSY
 * one, skip DISCARDed ones, stop before passing `limit` bytes (but take at least one
 * record) or after `max_records` (< 0: as many as `offs` holds).  The offset in
 * `ring` of each record's data goes to `offs` (int64 array), its length to `lens`
 * (uint32 array).  `consumed` is how far the consumer position may advance (past
 * discarded records too).  A record running past `prod` stops the walk with
 * bad_pos >= 0 (its position) and bad_len (its length).  min_len and max_len are
 * the shortest and longest of the n records (0 when n is 0).
 */
static PyObject *walk(PyObject *self, PyObject *args)
{
	Py_buffer ring, offs, lens;
	unsigned long long base, cursor, prod, mask, limit;
	long long max_records;
	PyObject *result = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*KKKKKLw*w*", &ring, &base, &cursor, &prod, &mask,
			      &limit, &max_records, &offs, &lens))
		return NULL;
	{
		const unsigned char *data = ring.buf;
		int64_t *out_off = offs.buf;
		uint32_t *out_len = lens.buf;
		Py_ssize_t room = offs.len / (Py_ssize_t)sizeof(int64_t);
		unsigned long long avail = prod - cursor, p = 0;
		long long bad_pos = -1, bad_len = 0;
		uint32_t min_len = UINT32_MAX, max_len = 0;
		Py_ssize_t n = 0;

		if (lens.len / (Py_ssize_t)sizeof(uint32_t) < room)
			room = lens.len / (Py_ssize_t)sizeof(uint32_t);
		if (max_records >= 0 && max_records < room)
			room = (Py_ssize_t)max_records;
		if (prod < cursor)
			avail = 0;
		if (limit > avail)
			limit = avail;
		while (p < avail && n < room) {
			unsigned long long at = base + (cursor & mask) + p;   /* mapped twice */
			uint32_t h, len;
			unsigned long long step;

			if (at + HDR_SZ > (unsigned long long)ring.len) {
				bad_pos = (long long)(cursor + p);
				break;
			}
			h = __atomic_load_n((const uint32_t *)(data + at), __ATOMIC_ACQUIRE);
			if (h & BUSY_BIT)
				break;
			len = h & ~(BUSY_BIT | DISCARD_BIT);
			step = ((unsigned long long)len + HDR_SZ + 7) & ~7ULL;
			if (p + step > avail || at + HDR_SZ + len > (unsigned long long)ring.len) {
				bad_pos = (long long)(cursor + p);
				bad_len = len;
				break;
			}
			/* Fetch ahead as if the next records had this one's size: runs of
			 * same-size records then load in parallel instead of one miss each. */
			__builtin_prefetch(data + at + 4 * step);
			__builtin_prefetch(data + at + 8 * step);
			if (h & DISCARD_BIT) {
				p += step;
				continue;
			}
			if (p + step > limit && n > 0)
				break;
			out_off[n] = (int64_t)(at + HDR_SZ);
			out_len[n] = len;
			if (len < min_len)
				min_len = len;
			if (len > max_len)
				max_len = len;
			n++;
			p += step;
		}
		if (n == 0)
			min_len = 0;
		result = Py_BuildValue("nKLLII", n, p, bad_pos, bad_len, min_len, max_len);
	}
	PyBuffer_Release(&ring);
	PyBuffer_Release(&offs);
	PyBuffer_Release(&lens);
	return result;
}

/*
 * read(ring, base, cursor, prod, mask, limit, max_records, size, dst)
 *     -> (n, consumed, bad_pos, bad_len, short_len)
 *
 * Walk as walk() does and copy the first `size` bytes of each committed record to
 * dst + i * size (as many as dst holds), stopping before a record shorter than
 * `size`: short_len is then its length (0 if none); when it is the first record,
 * consumed includes it (the caller skips it and reports it).
 */
static PyObject *read_records(PyObject *self, PyObject *args)
{
	Py_buffer ring, dst;
	unsigned long long base, cursor, prod, mask, limit;
	long long max_records;
	Py_ssize_t size;
	PyObject *result = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*KKKKKLnw*", &ring, &base, &cursor, &prod, &mask,
			      &limit, &max_records, &size, &dst))
		return NULL;
	if (size <= 0) {
		PyBuffer_Release(&ring);
		PyBuffer_Release(&dst);
		PyErr_SetString(PyExc_ValueError, "read(): size must be > 0");
		return NULL;
	}
	{
		const unsigned char *data = ring.buf;
		unsigned char *out = dst.buf;
		Py_ssize_t room = dst.len / size, n = 0;
		unsigned long long avail = prod - cursor, p = 0;
		long long bad_pos = -1, bad_len = 0;
		uint32_t short_len = 0;

		if (max_records >= 0 && max_records < room)
			room = (Py_ssize_t)max_records;
		if (prod < cursor)
			avail = 0;
		if (limit > avail)
			limit = avail;
		while (p < avail && n < room) {
			unsigned long long at = base + (cursor & mask) + p;   /* mapped twice */
			uint32_t h, len;
			unsigned long long step;

			if (at + HDR_SZ > (unsigned long long)ring.len) {
				bad_pos = (long long)(cursor + p);
				break;
			}
			h = __atomic_load_n((const uint32_t *)(data + at), __ATOMIC_ACQUIRE);
			if (h & BUSY_BIT)
				break;
			len = h & ~(BUSY_BIT | DISCARD_BIT);
			step = ((unsigned long long)len + HDR_SZ + 7) & ~7ULL;
			if (p + step > avail || at + HDR_SZ + len > (unsigned long long)ring.len) {
				bad_pos = (long long)(cursor + p);
				bad_len = len;
				break;
			}
			__builtin_prefetch(data + at + 4 * step);
			__builtin_prefetch(data + at + 8 * step);
			if (h & DISCARD_BIT) {
				p += step;
				continue;
			}
			if (p + step > limit && n > 0)
				break;
			if (len < (uint32_t)size) {
				short_len = len;
				if (n == 0)
					p += step;
				break;
			}
			memcpy(out + n * size, data + at + HDR_SZ, (size_t)size);
			n++;
			p += step;
		}
		result = Py_BuildValue("nKLLI", n, p, bad_pos, bad_len, short_len);
	}
	PyBuffer_Release(&ring);
	PyBuffer_Release(&dst);
	return result;
}

/*
 * gather(ring, offs, lens, n, size, dst)
 *
 * Copy the first `size` bytes of each of the `n` records (data at offs[i], lens[i]
 * bytes long) to dst + i * size; bytes past a shorter record's end are zeroed.
 */
static PyObject *gather(PyObject *self, PyObject *args)
{
	Py_buffer ring, offs, lens, dst;
	Py_ssize_t n, size;
	int ok = 1;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*y*y*nnw*", &ring, &offs, &lens, &n, &size, &dst))
		return NULL;
	if (n < 0 || size < 0 || offs.len / (Py_ssize_t)sizeof(int64_t) < n ||
	    lens.len / (Py_ssize_t)sizeof(uint32_t) < n || (size && dst.len / size < n))
		ok = 0;
	if (ok) {
		const unsigned char *data = ring.buf;
		const int64_t *off = offs.buf;
		const uint32_t *len = lens.buf;
		unsigned char *out = dst.buf;

		for (Py_ssize_t i = 0; i < n; i++) {
			Py_ssize_t take = (Py_ssize_t)len[i] < size ? (Py_ssize_t)len[i] : size;

			if (off[i] < 0 || off[i] + take > ring.len) {
				ok = 0;
				break;
			}
			memcpy(out + i * size, data + off[i], (size_t)take);
			if (take < size)
				memset(out + i * size + take, 0, (size_t)(size - take));
		}
	}
	PyBuffer_Release(&ring);
	PyBuffer_Release(&offs);
	PyBuffer_Release(&lens);
	PyBuffer_Release(&dst);
	if (!ok) {
		PyErr_SetString(PyExc_ValueError, "gather(): offsets or sizes out of range");
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{"walk", walk, METH_VARARGS, "Walk ring buffer records (see _accel.c)."},
	{"gather", gather, METH_VARARGS, "Copy the head of each record (see _accel.c)."},
	{"read", read_records, METH_VARARGS, "Walk and copy record heads (see _accel.c)."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "libbpfpy._accel",
	"Optional compiled helpers of the ring buffer reader.", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__accel(void)
{
	return PyModule_Create(&module);
}
