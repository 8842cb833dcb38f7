// A zoo of C types for the BTF -> ctypes/numpy tests: every kind of member the
// compiler can lay out, with padding, bitfields, anonymous records and enums.
// fill() writes known values into zoo_map[0]; check() reads back what Python wrote
// into zoo_map[1] and copies selected fields, as plain u64s, into out_map.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum zoo_color { ZOO_RED = 0, ZOO_GREEN = 1, ZOO_BLUE = 7 };
enum zoo_signed { ZOO_NEG = -5, ZOO_ZERO = 0, ZOO_POS = 100 };
enum zoo_small { ZOO_SMALL_A = 1, ZOO_SMALL_B = 200 } __attribute__((packed));

typedef unsigned int zoo_u32;
typedef struct { short a; char b; } zoo_anon_typedef;

struct zoo_inner {
	char c;
	long long q;		/* 7 bytes of padding before */
};

struct zoo_packed {
	char a;
	int b;
	short c;
} __attribute__((packed));

struct zoo_aligned {
	char a;
	int b __attribute__((aligned(16)));
	char tail;
};

union zoo_union {
	int as_int;
	unsigned char bytes[4];
	struct { unsigned short lo, hi; } halves;
};

struct zoo {
	char c;
	int i;
	unsigned short us;
	long long ll;
	unsigned long long ull;
	signed char sc;
	unsigned char uc;
	_Bool flag;
	char name[13];
	int matrix[2][3];
	struct zoo_inner inner;
	struct zoo_inner inners[2];
	union zoo_union u;
	union {				/* anonymous union */
		unsigned int anon_a;
		unsigned short anon_b;
	};
	struct {			/* anonymous struct with a bitfield */
		int nested_x;
		unsigned int nested_bits : 5;
		char anon_tag[6];
	};
	unsigned int bf1 : 3;
	int bf2 : 5;
	unsigned long long bf3 : 40;
	enum zoo_color color;
	enum zoo_signed sgn;
	enum zoo_small small;
	enum zoo_color color_bits : 4;
	zoo_u32 typedefd;
	const volatile int cv;
	int *ptr;
	void *restrict rptr;
	float f;
	double d;
	zoo_anon_typedef at;
	struct zoo_packed packed;
	struct zoo_aligned aligned;
	unsigned char tail[3];
	char flex[];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct zoo);
} zoo_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} out_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, char[8]);
	__type(value, enum zoo_color);
} by_name SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, struct zoo_packed);
	__type(value, union zoo_union);
} by_packed SEC(".maps");

SEC("syscall")
int fill(void *ctx)
{
	__u32 key = 0;
	struct zoo *z = bpf_map_lookup_elem(&zoo_map, &key);

	if (!z)
		return 1;
	z->c = 'Z';
	z->i = -123456;
	z->us = 65001;
	z->ll = -9000000000LL;
	z->ull = 18000000000000000000ULL;
	z->sc = -7;
	z->uc = 250;
	z->flag = 1;
	__builtin_memcpy(z->name, "hello, zoo!", 12);
	for (int r = 0; r < 2; r++)
		for (int c = 0; c < 3; c++)
			z->matrix[r][c] = r * 10 + c;
	z->inner.c = 'q';
	z->inner.q = 0x1122334455667788LL;
	z->inners[0].q = 1;
	z->inners[1].c = 'x';
	z->inners[1].q = -2;
	z->u.halves.lo = 0xbeef;
	z->u.halves.hi = 0xdead;
	z->anon_a = 0xa5a5a5a5;
	z->nested_x = -42;
	z->nested_bits = 19;
	__builtin_memcpy(z->anon_tag, "tag", 4);
	z->bf1 = 5;
	z->bf2 = -9;
	z->bf3 = 0xabcdef1234ULL;
	z->color = ZOO_BLUE;
	z->sgn = ZOO_NEG;
	z->small = ZOO_SMALL_B;
	z->color_bits = ZOO_GREEN;
	z->typedefd = 4000000000U;
	z->ptr = (int *)0xffff888012345678ULL;
	z->rptr = (void *)0x1000;
	*(__u32 *)&z->f = 0x3fc00000;			/* 1.5f */
	*(__u64 *)&z->d = 0xc004000000000000ULL;	/* -2.5 */
	z->at.a = -300;
	z->at.b = 'b';
	z->packed.a = 1;
	z->packed.b = 0x01020304;
	z->packed.c = -2;
	z->aligned.a = 2;
	z->aligned.b = 77;
	z->aligned.tail = 3;
	z->tail[0] = 9;
	z->tail[2] = 8;
	return 0;
}

SEC("syscall")
int check(void *ctx)
{
	__u32 key = 1, k;
	struct zoo *z = bpf_map_lookup_elem(&zoo_map, &key);
	__u64 v;

#define OUT(idx, expr) do { k = idx; v = (__u64)(expr); bpf_map_update_elem(&out_map, &k, &v, 0); } while (0)
	if (!z)
		return 1;
	OUT(0, z->i);
	OUT(1, z->ll);
	OUT(2, z->name[0] | (z->name[4] << 8));
	OUT(3, z->matrix[1][2]);
	OUT(4, z->inner.q);
	OUT(5, z->bf1 | (z->bf2 << 8));
	OUT(6, z->bf3);
	OUT(7, z->nested_bits);
	OUT(8, z->color | (z->color_bits << 8));
	OUT(9, z->anon_b);
	OUT(10, z->packed.b);
	OUT(11, z->aligned.b);
	OUT(12, z->at.a);
	OUT(13, z->inners[1].c);
	OUT(14, z->u.as_int);
	OUT(15, z->sgn);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
