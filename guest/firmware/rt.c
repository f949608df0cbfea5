/*
 * ringside test-guest firmware — the tiny runtime: console text through the
 * debug port, a printf subset, byte helpers, the observation hash, panics.
 */
#include <stdarg.h>

#include "fw.h"

size_t fw_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int fw_memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

void fw_memset(void *p, int c, size_t n)
{
	volatile uint8_t *b = p; /* volatile: no call back into memset */

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)c;
}

void fw_memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *dd = d;
	const uint8_t *ss = s;

	for (size_t i = 0; i < n; i++)
		dd[i] = ss[i];
}

/* One exit per string: the VMM reads it from memory (FW_PORT_PUTS). String
 * I/O (OUTS) would do too on most hosts, but faults in user mode on KVM's
 * PVM backend. */
static void debug_write(const char *s, size_t n)
{
	char buf[FW_PUTS_MAX];

	while (n) {
		size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;

		fw_memcpy(buf, s, k);
		buf[k] = '\0';
		fw_outl(FW_PORT_PUTS, (uint32_t)(uintptr_t)buf);
		s += k;
		n -= k;
	}
}

void fw_puts(const char *s)
{
	debug_write(s, fw_strlen(s));
}

/* A formatting sink: a buffer, flushed to the console when full if flush. */
struct fmt_out {
	char *buf;
	size_t len, cap;
	bool flush;
};

static void out_c(struct fmt_out *o, char c)
{
	if (o->len + 1 >= o->cap) {
		if (!o->flush)
			return;
		debug_write(o->buf, o->len);
		o->len = 0;
	}
	o->buf[o->len++] = c;
}

static void out_s(struct fmt_out *o, const char *s)
{
	while (*s)
		out_c(o, *s++);
}

static void out_num(struct fmt_out *o, uint64_t v, unsigned base, unsigned width, char pad,
		    bool neg)
{
	char tmp[24];
	unsigned n = 0;

	do {
		unsigned d = (unsigned)(v % base);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v && n < sizeof tmp);
	if (neg)
		tmp[n++] = '-';
	while (n < width && width < sizeof tmp)
		tmp[n++] = pad;
	while (n)
		out_c(o, tmp[--n]);
}

static void fmt(struct fmt_out *o, const char *f, va_list ap)
{
	for (; *f; f++) {
		if (*f != '%') {
			out_c(o, *f);
			continue;
		}
		f++;
		char pad = ' ';
		unsigned width = 0, lng = 0;
		bool left = false;

		if (*f == '-') {
			left = true;
			f++;
		}
		if (*f == '0') {
			pad = '0';
			f++;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (unsigned)(*f++ - '0');
		while (*f == 'l') {
			lng++;
			f++;
		}
		switch (*f) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n;

			s = s ? s : "(null)";
			n = fw_strlen(s);
			for (; !left && n < width; n++)
				out_c(o, ' ');
			out_s(o, s);
			for (; left && n < width; n++)
				out_c(o, ' ');
			break;
		}
		case 'c':
			out_c(o, (char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			out_num(o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10, width, pad,
				v < 0);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			out_num(o, v, *f == 'u' ? 10 : 16, width, pad, false);
			break;
		}
		case '%':
			out_c(o, '%');
			break;
		case '\0':
			return;
		default:
			out_c(o, '?');
			break;
		}
	}
}

void fw_printf(const char *f, ...)
{
	char buf[256];
	struct fmt_out o = { buf, 0, sizeof buf, true };
	va_list ap;

	va_start(ap, f);
	fmt(&o, f, ap);
	va_end(ap);
	debug_write(buf, o.len);
}

void fw_snprintf(char *buf, size_t len, const char *f, ...)
{
	struct fmt_out o = { buf, 0, len, false };
	va_list ap;

	if (!len)
		return;
	va_start(ap, f);
	fmt(&o, f, ap);
	va_end(ap);
	buf[o.len] = '\0';
}

void fw_hash_init(struct fw_hash *h)
{
	h->h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
}

void fw_hash_bytes(struct fw_hash *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h->h ^= b[i];
		h->h *= 0x100000001b3ull; /* FNV-1a 64 prime */
	}
}

void fw_hash_u64(struct fw_hash *h, uint64_t v)
{
	uint8_t b[8];

	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	fw_hash_bytes(h, b, sizeof b);
}

/* The result a panic reports (static: the stack may be what broke). */
static struct fw_result panic_res;

void fw_panic(const char *f, ...)
{
	struct fmt_out o = { panic_res.msg, 0, sizeof panic_res.msg, false };
	va_list ap;

	va_start(ap, f);
	fmt(&o, f, ap);
	va_end(ap);
	panic_res.msg[o.len] = '\0';
	panic_res.magic = FW_RES_MAGIC;
	panic_res.version = FW_RES_VERSION;
	panic_res.status = 1;
	panic_res.failed = 1;
	fw_puts("firmware panic: ");
	fw_puts(panic_res.msg);
	fw_puts("\n");
	fw_outl(FW_PORT_DONE, (uint32_t)(uintptr_t)&panic_res);
	for (;;) /* user mode: no HLT; the VMM stops at the OUT above */
		__asm__ volatile("pause");
}
