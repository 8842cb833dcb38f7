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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_BIT (1u << 31)
#define DISCARD_BIT (1u << 30)
#define HDR_SZ 8u

/*
 * One step of a walk over the ring from `cursor` (the part walk() and read() share).
 * Returns STEP_RECORD (a committed record: *at is the offset of its header in the
 * ring, *len its length, *step the distance to the next header), STEP_DISCARD (a
 * discarded one, already stepped over), STEP_END (nothing more to take: `prod`
 * reached, a record still being written, or one that would pass `limit` when
 * `taken` records are already out -- at least one is always taken) or STEP_BAD (one
 * that runs past `prod` or the mapping: bad_pos and bad_len say where and how long).
 */
enum { STEP_RECORD, STEP_DISCARD, STEP_END, STEP_BAD };

struct cursor {
	const unsigned char *data;
	unsigned long long ring_len, base, cursor, mask, avail, limit, p;
	long long bad_pos, bad_len;
};

static inline int next_record(struct cursor *c, Py_ssize_t taken,
			      unsigned long long *at_out, uint32_t *len_out,
			      unsigned long long *step_out)
{
	unsigned long long at = c->base + (c->cursor & c->mask) + c->p;   /* mapped twice */
	uint32_t h, len;
	unsigned long long step;

	if (c->p >= c->avail)
		return STEP_END;
	if (at + HDR_SZ > c->ring_len) {
		c->bad_pos = (long long)(c->cursor + c->p);
		return STEP_BAD;
	}
	h = __atomic_load_n((const uint32_t *)(c->data + at), __ATOMIC_ACQUIRE);
	if (h & BUSY_BIT)
		return STEP_END;
	len = h & ~(BUSY_BIT | DISCARD_BIT);
	step = ((unsigned long long)len + HDR_SZ + 7) & ~7ULL;
	if (c->p + step > c->avail || at + HDR_SZ + len > c->ring_len) {
		c->bad_pos = (long long)(c->cursor + c->p);
		c->bad_len = len;
		return STEP_BAD;
	}
	/* Fetch ahead as if the next records had this one's size: runs of same-size
	 * records then load in parallel instead of one miss each. */
	__builtin_prefetch(c->data + at + 4 * step);
	__builtin_prefetch(c->data + at + 8 * step);
	if (h & DISCARD_BIT) {
		c->p += step;
		return STEP_DISCARD;
	}
	if (c->p + step > c->limit && taken > 0)
		return STEP_END;
	*at_out = at;
	*len_out = len;
	*step_out = step;
	return STEP_RECORD;
}

static void start_walk(struct cursor *c, const Py_buffer *ring, unsigned long long base,
		       unsigned long long cursor, unsigned long long prod,
		       unsigned long long mask, unsigned long long limit)
{
	c->data = ring->buf;
	c->ring_len = (unsigned long long)ring->len;
	c->base = base;
	c->cursor = cursor;
	c->mask = mask;
	c->avail = prod < cursor ? 0 : prod - cursor;
	c->limit = limit < c->avail ? limit : c->avail;
	c->p = 0;
	c->bad_pos = -1;
	c->bad_len = 0;
}

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
		int64_t *out_off = offs.buf;
		uint32_t *out_len = lens.buf;
		Py_ssize_t room = offs.len / (Py_ssize_t)sizeof(int64_t);
		uint32_t min_len = UINT32_MAX, max_len = 0;
		Py_ssize_t n = 0;
		struct cursor c;

		start_walk(&c, &ring, base, cursor, prod, mask, limit);
		if (lens.len / (Py_ssize_t)sizeof(uint32_t) < room)
			room = lens.len / (Py_ssize_t)sizeof(uint32_t);
		if (max_records >= 0 && max_records < room)
			room = (Py_ssize_t)max_records;
		while (n < room) {
			unsigned long long at, step;
			uint32_t len;
			int kind = next_record(&c, n, &at, &len, &step);

			if (kind == STEP_DISCARD)
				continue;
			if (kind != STEP_RECORD)
				break;
			out_off[n] = (int64_t)(at + HDR_SZ);
			out_len[n] = len;
			if (len < min_len)
				min_len = len;
			if (len > max_len)
				max_len = len;
			n++;
			c.p += step;
		}
		if (n == 0)
			min_len = 0;
		result = Py_BuildValue("nKLLII", n, c.p, c.bad_pos, c.bad_len, min_len, max_len);
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
		unsigned char *out = dst.buf;
		Py_ssize_t room = dst.len / size, n = 0;
		uint32_t short_len = 0;
		struct cursor c;

		start_walk(&c, &ring, base, cursor, prod, mask, limit);
		if (max_records >= 0 && max_records < room)
			room = (Py_ssize_t)max_records;
		while (n < room) {
			unsigned long long at, step;
			uint32_t len;
			int kind = next_record(&c, n, &at, &len, &step);

			if (kind == STEP_DISCARD)
				continue;
			if (kind != STEP_RECORD)
				break;
			if (len < (uint32_t)size) {
				short_len = len;
				if (n == 0)
					c.p += step;
				break;
			}
			memcpy(out + n * size, c.data + at + HDR_SZ, (size_t)size);
			n++;
			c.p += step;
		}
		result = Py_BuildValue("nKLLI", n, c.p, c.bad_pos, c.bad_len, short_len);
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


/* ---- BTF ---------------------------------------------------------------------- */

enum {
	K_UNKN, K_INT, K_PTR, K_ARRAY, K_STRUCT, K_UNION, K_ENUM, K_FWD, K_TYPEDEF,
	K_VOLATILE, K_CONST, K_RESTRICT, K_FUNC, K_FUNC_PROTO, K_VAR, K_DATASEC, K_FLOAT,
	K_DECL_TAG, K_TYPE_TAG, K_ENUM64, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
	"VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
	"DECL_TAG", "TYPE_TAG", "ENUM64",
};

/* bytes after the 12-byte header: fixed, and per vlen item */
static unsigned extra_size(unsigned kind, unsigned vlen)
{
	switch (kind) {
	case K_INT: case K_VAR: case K_DECL_TAG: return 4;
	case K_ARRAY: return 12;
	case K_STRUCT: case K_UNION: case K_DATASEC: case K_ENUM64: return 12 * vlen;
	case K_ENUM: case K_FUNC_PROTO: return 8 * vlen;
	default: return 0;
	}
}

struct btf_view {
	const unsigned char *types;
	Py_ssize_t types_len;
	const uint32_t *offsets;
	Py_ssize_t count;
	const char *strings;
	Py_ssize_t strings_len;
	unsigned long long str_base;    /* string offsets below this are the base's */
	unsigned long long start_id;
	int swap;
};

static uint32_t rd32(const struct btf_view *b, Py_ssize_t at)
{
	uint32_t v;

	if (at < 0 || at + 4 > b->types_len)
		return 0;
	memcpy(&v, b->types + at, 4);
	return b->swap ? __builtin_bswap32(v) : v;
}

/*
 * btf_offsets(types, swap) -> (offsets, kinds): the offset of each type record in
 * `types` (the raw type section) as native uint32s, and each one's kind (a byte).
 * Raises ValueError if a record runs past the end.
 */
static PyObject *btf_offsets(PyObject *self, PyObject *args)
{
	Py_buffer types;
	int swap;
	PyObject *result = NULL;
	uint32_t *out = NULL;
	unsigned char *kinds = NULL;
	Py_ssize_t n = 0, cap = 1024, off = 0;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*p", &types, &swap))
		return NULL;
	out = malloc(cap * sizeof(*out));
	kinds = malloc(cap);
	if (!out || !kinds) {
		free(out);
		free(kinds);
		PyBuffer_Release(&types);
		return PyErr_NoMemory();
	}
	{
		struct btf_view b = { .types = types.buf, .types_len = types.len, .swap = swap };

		while (off < types.len) {
			uint32_t info;

			if (off + 12 > types.len)
				goto bad;
			info = rd32(&b, off + 4);
			if (n == cap) {
				uint32_t *grown = realloc(out, 2 * cap * sizeof(*out));
				unsigned char *kgrown;

				if (grown)
					out = grown;
				kgrown = grown ? realloc(kinds, 2 * cap) : NULL;
				if (!kgrown) {
					free(out);
					free(kinds);
					PyBuffer_Release(&types);
					return PyErr_NoMemory();
				}
				kinds = kgrown;
				cap *= 2;
			}
			kinds[n] = (info >> 24) & 0x1f;
			out[n++] = (uint32_t)off;
			off += 12 + extra_size((info >> 24) & 0x1f, info & 0xffff);
		}
		if (off != types.len)
			goto bad;
	}
	result = Py_BuildValue("y#y#", (const char *)out, n * (Py_ssize_t)sizeof(*out),
			       (const char *)kinds, n);
	free(out);
	free(kinds);
	PyBuffer_Release(&types);
	return result;
bad:
	free(out);
	free(kinds);
	PyBuffer_Release(&types);
	PyErr_SetString(PyExc_ValueError, "BTF type section: a record runs past its end");
	return NULL;
}

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int need;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		need = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (need < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)need < t->cap - t->len) {
			t->len += (size_t)need;
			return;
		}
		{
			size_t cap = t->cap * 2 + (size_t)need + 1;
			char *grown = realloc(t->buf, cap);

			if (!grown) {
				t->failed = 1;
				return;
			}
			t->buf = grown;
			t->cap = cap;
		}
	}
}

/* the name at string offset `off` ("" when out of range or unterminated) */
static const char *name_at(const struct btf_view *b, const struct btf_view *base,
			   unsigned long long off)
{
	const struct btf_view *v = b;

	if (off < b->str_base) {
		if (!base)
			return "";
		v = base;
	} else {
		off -= b->str_base;
	}
	if (off >= (unsigned long long)v->strings_len)
		return "";
	if (!memchr(v->strings + off, 0, (size_t)(v->strings_len - (Py_ssize_t)off)))
		return "";
	return v->strings + off;
}

static const char *anon(const char *s)
{
	return *s ? s : "(anon)";
}

static const char *linkage(uint32_t l)
{
	return l == 0 ? "static" : l == 1 ? "global" : l == 2 ? "extern" : "(unknown)";
}

/* "KIND 'name'" of type `id` (for DATASEC entries) */
static void put_kind_name(struct text *t, const struct btf_view *b,
			  const struct btf_view *base, unsigned long long id)
{
	const struct btf_view *v = b;
	unsigned long long idx;
	uint32_t info, kind;

	if (id == 0) {
		put(t, "UNKN 'void'");
		return;
	}
	if (id < b->start_id) {
		if (!base) {
			put(t, "UNKN '(anon)'");
			return;
		}
		v = base;
	}
	idx = id - v->start_id;
	if (idx >= (unsigned long long)v->count) {
		put(t, "UNKN '(anon)'");
		return;
	}
	info = rd32(v, v->offsets[idx] + 4);
	kind = (info >> 24) & 0x1f;
	put(t, "%s '%s'", kind < K_COUNT ? kind_names[kind] : "UNKN",
	    anon(name_at(v, base, rd32(v, v->offsets[idx]))));
}

static int view_from(struct btf_view *v, Py_buffer *types, Py_buffer *offsets,
		      Py_buffer *strings, unsigned long long str_base,
		      unsigned long long start_id, int swap)
{
	v->types = types->buf;
	v->types_len = types->len;
	v->offsets = offsets->buf;
	v->count = offsets->len / (Py_ssize_t)sizeof(uint32_t);
	v->strings = strings->buf;
	v->strings_len = strings->len;
	v->str_base = str_base;
	v->start_id = start_id;
	v->swap = swap;
	for (Py_ssize_t i = 0; i < v->count; i++)
		if ((Py_ssize_t)v->offsets[i] + 12 > v->types_len)
			return -1;
	return 0;
}

static void list_type(struct text *t, const struct btf_view *b, const struct btf_view *base,
		      unsigned long long id)
{
	Py_ssize_t off, x;
	uint32_t name_off, info, st, vlen, kind, kflag;
	const char *n;

	if (id < b->start_id || id - b->start_id >= (unsigned long long)b->count)
		return;
	off = b->offsets[id - b->start_id];
	name_off = rd32(b, off);
	info = rd32(b, off + 4);
	st = rd32(b, off + 8);
	kind = (info >> 24) & 0x1f;
	vlen = info & 0xffff;
	kflag = info >> 31;
	n = anon(name_at(b, base, name_off));
	x = off + 12;
	if (x + (Py_ssize_t)extra_size(kind, vlen) > b->types_len) {
		put(t, "[%llu] %s '%s'\n", id, kind < K_COUNT ? kind_names[kind] : "UNKN", n);
		return;
	}
	switch (kind) {
	case K_PTR: case K_TYPEDEF: case K_VOLATILE: case K_CONST: case K_RESTRICT:
	case K_TYPE_TAG:
		put(t, "[%llu] %s '%s' type_id=%u\n", id, kind_names[kind], n, st);
		break;
	case K_FUNC:
		put(t, "[%llu] FUNC '%s' type_id=%u linkage=%s\n", id, n, st, linkage(vlen));
		break;
	case K_STRUCT: case K_UNION:
		put(t, "[%llu] %s '%s' size=%u vlen=%u\n", id, kind_names[kind], n, st, vlen);
		for (uint32_t i = 0; i < vlen; i++) {
			Py_ssize_t m = x + 12 * (Py_ssize_t)i;
			uint32_t mo = rd32(b, m + 8);
			const char *mn = anon(name_at(b, base, rd32(b, m)));

			if (kflag && mo >> 24)
				put(t, "\t'%s' type_id=%u bits_offset=%u bitfield_size=%u\n", mn,
				    rd32(b, m + 4), mo & 0xffffff, mo >> 24);
			else
				put(t, "\t'%s' type_id=%u bits_offset=%u\n", mn, rd32(b, m + 4),
				    kflag ? mo & 0xffffff : mo);
		}
		break;
	case K_FUNC_PROTO:
		put(t, "[%llu] FUNC_PROTO '%s' ret_type_id=%u vlen=%u\n", id, n, st, vlen);
		for (uint32_t i = 0; i < vlen; i++) {
			Py_ssize_t m = x + 8 * (Py_ssize_t)i;

			put(t, "\t'%s' type_id=%u\n", anon(name_at(b, base, rd32(b, m))),
			    rd32(b, m + 4));
		}
		break;
	case K_INT: {
		uint32_t w = rd32(b, x), enc = (w >> 24) & 0x0f;

		put(t, "[%llu] INT '%s' size=%u bits_offset=%u nr_bits=%u encoding=%s\n", id, n,
		    st, (w >> 16) & 0xff, w & 0xff,
		    enc == 0 ? "(none)" : enc == 1 ? "SIGNED" : enc == 2 ? "CHAR" :
		    enc == 4 ? "BOOL" : "UNKN");
		break;
	}
	case K_ARRAY:
		put(t, "[%llu] ARRAY '%s' type_id=%u index_type_id=%u nr_elems=%u\n", id, n,
		    rd32(b, x), rd32(b, x + 4), rd32(b, x + 8));
		break;
	case K_ENUM:
		put(t, "[%llu] ENUM '%s' encoding=%s size=%u vlen=%u\n", id, n,
		    kflag ? "SIGNED" : "UNSIGNED", st, vlen);
		for (uint32_t i = 0; i < vlen; i++) {
			Py_ssize_t m = x + 8 * (Py_ssize_t)i;
			uint32_t v = rd32(b, m + 4);

			if (kflag)
				put(t, "\t'%s' val=%d\n", name_at(b, base, rd32(b, m)), (int32_t)v);
			else
				put(t, "\t'%s' val=%u\n", name_at(b, base, rd32(b, m)), v);
		}
		break;
	case K_ENUM64:
		put(t, "[%llu] ENUM64 '%s' encoding=%s size=%u vlen=%u\n", id, n,
		    kflag ? "SIGNED" : "UNSIGNED", st, vlen);
		for (uint32_t i = 0; i < vlen; i++) {
			Py_ssize_t m = x + 12 * (Py_ssize_t)i;
			uint64_t v = ((uint64_t)rd32(b, m + 8) << 32) | rd32(b, m + 4);

			if (kflag)
				put(t, "\t'%s' val=%lldLL\n", name_at(b, base, rd32(b, m)),
				    (long long)v);
			else
				put(t, "\t'%s' val=%lluULL\n", name_at(b, base, rd32(b, m)),
				    (unsigned long long)v);
		}
		break;
	case K_FWD:
		put(t, "[%llu] FWD '%s' fwd_kind=%s\n", id, n, kflag ? "union" : "struct");
		break;
	case K_VAR:
		put(t, "[%llu] VAR '%s' type_id=%u, linkage=%s\n", id, n, st,
		    linkage(rd32(b, x)));
		break;
	case K_DATASEC:
		put(t, "[%llu] DATASEC '%s' size=%u vlen=%u\n", id, n, st, vlen);
		for (uint32_t i = 0; i < vlen; i++) {
			Py_ssize_t m = x + 12 * (Py_ssize_t)i;

			put(t, "\ttype_id=%u offset=%u size=%u (", rd32(b, m), rd32(b, m + 4),
			    rd32(b, m + 8));
			put_kind_name(t, b, base, rd32(b, m));
			put(t, ")\n");
		}
		break;
	case K_FLOAT:
		put(t, "[%llu] FLOAT '%s' size=%u\n", id, n, st);
		break;
	case K_DECL_TAG:
		put(t, "[%llu] DECL_TAG '%s' type_id=%u component_idx=%d\n", id, n, st,
		    (int32_t)rd32(b, x));
		break;
	default:
		put(t, "[%llu] %s '%s'\n", id, kind < K_COUNT ? kind_names[kind] : "UNKN", n);
	}
}

/*
 * btf_listing(types, offsets, strings, str_base, start_id, swap, ids,
 *             base_types, base_offsets, base_strings) -> str
 *
 * `bpftool btf dump` raw text of the types `ids` (uint32 buffer; None: all), one
 * BTF's raw type section, its offsets (btf_offsets()) and string section; `base_*`
 * (or None) is the base BTF of a split BTF.
 */
static PyObject *btf_listing(PyObject *self, PyObject *args)
{
	Py_buffer types, offsets, strings, bt = {0}, bo = {0}, bs = {0}, idbuf = {0};
	unsigned long long str_base, start_id;
	int swap, have_base = 0, have_ids = 0;
	PyObject *ids, *btypes, *boffsets, *bstrings, *result = NULL;
	struct btf_view b, base;
	struct text t = { 0 };

	(void)self;
	if (!PyArg_ParseTuple(args, "y*y*y*KKpOOOO", &types, &offsets, &strings, &str_base,
			      &start_id, &swap, &ids, &btypes, &boffsets, &bstrings))
		return NULL;
	if (ids != Py_None) {
		if (PyObject_GetBuffer(ids, &idbuf, PyBUF_SIMPLE) < 0)
			goto out;
		have_ids = 1;
	}
	if (btypes != Py_None) {
		if (PyObject_GetBuffer(btypes, &bt, PyBUF_SIMPLE) < 0)
			goto out;
		if (PyObject_GetBuffer(boffsets, &bo, PyBUF_SIMPLE) < 0) {
			PyBuffer_Release(&bt);
			goto out;
		}
		if (PyObject_GetBuffer(bstrings, &bs, PyBUF_SIMPLE) < 0) {
			PyBuffer_Release(&bt);
			PyBuffer_Release(&bo);
			goto out;
		}
		have_base = 1;
	}
	if (view_from(&b, &types, &offsets, &strings, str_base, start_id, swap) < 0 ||
	    (have_base && view_from(&base, &bt, &bo, &bs, 0, 1, swap) < 0)) {
		PyErr_SetString(PyExc_ValueError, "btf_listing(): offsets past the types");
		goto release;
	}
	t.cap = 1 << 20;
	t.buf = malloc(t.cap);
	if (!t.buf) {
		PyErr_NoMemory();
		goto release;
	}
	if (have_ids) {
		const uint32_t *idv = idbuf.buf;
		Py_ssize_t nid = idbuf.len / (Py_ssize_t)sizeof(uint32_t);

		for (Py_ssize_t i = 0; i < nid && !t.failed; i++)
			list_type(&t, &b, have_base ? &base : NULL, idv[i]);
	} else {
		for (Py_ssize_t i = 0; i < b.count && !t.failed; i++)
			list_type(&t, &b, have_base ? &base : NULL, start_id + (unsigned long long)i);
	}
	if (t.failed)
		PyErr_NoMemory();
	else
		result = PyUnicode_DecodeUTF8(t.buf, (Py_ssize_t)t.len, "replace");
	free(t.buf);
release:
	if (have_base) {
		PyBuffer_Release(&bt);
		PyBuffer_Release(&bo);
		PyBuffer_Release(&bs);
	}
out:
	if (have_ids)
		PyBuffer_Release(&idbuf);
	PyBuffer_Release(&types);
	PyBuffer_Release(&offsets);
	PyBuffer_Release(&strings);
	return result;
}

static PyMethodDef methods[] = {
	{"walk", walk, METH_VARARGS, "Walk ring buffer records (see _accel.c)."},
	{"gather", gather, METH_VARARGS, "Copy the head of each record (see _accel.c)."},
	{"read", read_records, METH_VARARGS, "Walk and copy record heads (see _accel.c)."},
	{"btf_offsets", btf_offsets, METH_VARARGS, "Offsets of BTF type records."},
	{"btf_listing", btf_listing, METH_VARARGS, "BTF types as bpftool's raw text."},
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
