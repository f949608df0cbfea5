/*
 * ringside — machine spec parser and printer. The syntax is documented in
 * docs/machine-spec.md; every rule below has an error message there.
 *
 * The text is walked in place as (pointer, length) spans, so nothing in a
 * spec — however long a token — is copied before it has been checked
 * against the field it is meant for.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ringside/machine.h"
#include "ringside/mspec.h"

#define MSPEC_MAX_TEXT 4096    /* characters of spec text */
#define MSPEC_MAX_VECTORS 64   /* = VPCI_MSIX_MAX_VECTORS (transport.h) */
#define MSPEC_MIN_MEM (1ull << 20)
#define MSPEC_MAX_IRQ (MACHINE_GSI_COUNT - 1)
#define MSPEC_TOKEN_SHOWN 60   /* characters of a token quoted in an error */

#define KEY_MAX (sizeof(((struct vdev_args *)0)->kv[0].key) - 1)
#define VAL_MAX (sizeof(((struct vdev_args *)0)->kv[0].val) - 1)
#define NAME_MAX_LEN (sizeof(((struct mspec_dev *)0)->device) - 1)

static const char *const transport_names[MSPEC__COUNT] = {
	[MSPEC_PCI] = "pci",
	[MSPEC_PCI_MODERN] = "pci-modern",
	[MSPEC_PCI_LEGACY] = "pci-legacy",
	[MSPEC_MMIO] = "mmio",
	[MSPEC_MMIO_LEGACY] = "mmio-legacy",
};

/* The generic feature switches: option name and the feature bit "off" sets
 * in mspec_dev.disable, in canonical order. */
static const struct {
	const char *name;
	unsigned bit;
} feature_switches[] = {
	{ "packed", VIRTIO_F_RING_PACKED },
	{ "indirect", VIRTIO_F_INDIRECT_DESC },
	{ "event-idx", VIRTIO_F_EVENT_IDX },
	{ "in-order", VIRTIO_F_IN_ORDER },
};

const char *mspec_transport_name(enum mspec_transport t)
{
	return (unsigned)t < MSPEC__COUNT ? transport_names[t] : NULL;
}

static bool is_pci(enum mspec_transport t)
{
	return t == MSPEC_PCI || t == MSPEC_PCI_MODERN || t == MSPEC_PCI_LEGACY;
}

/* ---- spans -------------------------------------------------------------- */

struct span {
	const char *p;
	size_t n;
};

static bool span_is(struct span s, const char *lit)
{
	return strlen(lit) == s.n && memcmp(s.p, lit, s.n) == 0;
}

/* Index of the first c in s, or s.n. */
static size_t span_find(struct span s, char c)
{
	const char *hit = memchr(s.p, c, s.n);

	return hit ? (size_t)(hit - s.p) : s.n;
}

static struct span span_head(struct span s, size_t n)
{
	return (struct span){ s.p, RS_MIN(n, s.n) };
}

/* What follows index n (exclusive of the separator at n). */
static struct span span_after(struct span s, size_t n)
{
	return n < s.n ? (struct span){ s.p + n + 1, s.n - n - 1 } : (struct span){ s.p + s.n, 0 };
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Characters of device and option names. */
static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Index of the first character of s outside [a-z0-9_-], or s.n. */
static size_t bad_name_char(struct span s)
{
	for (size_t i = 0; i < s.n; i++)
		if (!is_name_char(s.p[i]))
			return i;
	return s.n;
}

/* Printable form of one character for messages ("'X'" or "byte 0x01"). */
static void show_char(char c, char *buf, size_t len)
{
	if (c > ' ' && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else
		snprintf(buf, len, "byte 0x%02x", (unsigned char)c);
}

/* ---- numbers ------------------------------------------------------------ */

/* Decimal or 0x-hex number, the whole span. Returns false on anything else
 * or on overflow. */
static bool parse_u64(struct span s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (s.n > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == s.n)
		return false;
	for (; i < s.n; i++) {
		char c = s.p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* A number with an optional K, M or G (binary) suffix. */
static bool parse_size(struct span s, uint64_t *out)
{
	unsigned shift = 0;
	uint64_t v;

	if (s.n > 1) {
		switch (s.p[s.n - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: break;
		}
		if (shift)
			s.n--;
	}
	if (!parse_u64(s, &v) || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* Size in the largest unit that divides it exactly ("64M", "1536M", "4K"). */
static void format_size(uint64_t v, char *buf, size_t len)
{
	static const struct {
		unsigned shift;
		char suffix;
	} units[] = { { 30, 'G' }, { 20, 'M' }, { 10, 'K' } };

	for (unsigned i = 0; i < RS_ARRAY_SIZE(units); i++) {
		uint64_t unit = 1ull << units[i].shift;

		if (v != 0 && v % unit == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v / unit), units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* ---- errors ------------------------------------------------------------- */

struct parser {
	struct mspec *out;
	struct span tok;        /* token being parsed, for messages */
	bool mem_seen;
	char *err;
	size_t errlen;
};

/* Write "machine spec: 'TOKEN': MESSAGE" and return -EINVAL. The token is
 * cut to MSPEC_TOKEN_SHOWN characters and control bytes show as '?'. */
RS_PRINTF(2, 3)
static int perr(struct parser *p, const char *fmt, ...)
{
	char msg[256], tok[MSPEC_TOKEN_SHOWN + 1];
	size_t shown = RS_MIN(p->tok.n, (size_t)MSPEC_TOKEN_SHOWN);
	va_list ap;

	if (!p->err || p->errlen == 0)
		return -EINVAL;
	for (size_t i = 0; i < shown; i++)
		tok[i] = p->tok.p[i] > ' ' && p->tok.p[i] < 0x7f ? p->tok.p[i] : '?';
	tok[shown] = '\0';
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "machine spec: '%s%s': %s", tok,
		 p->tok.n > MSPEC_TOKEN_SHOWN ? "..." : "", msg);
	return -EINVAL;
}

/* Span as a NUL-terminated string for messages, cut to fit buf. */
static const char *cstr(struct span s, char *buf, size_t len)
{
	size_t n = RS_MIN(s.n, len - 1);

	memcpy(buf, s.p, n);
	buf[n] = '\0';
	return buf;
}

/* ---- option values ------------------------------------------------------ */

/* on | off. */
static int parse_switch(struct parser *p, struct span key, struct span val, bool *out)
{
	char k[32], v[32];

	if (span_is(val, "on"))
		*out = true;
	else if (span_is(val, "off"))
		*out = false;
	else
		return perr(p, "option '%s' takes on or off, not '%s'", cstr(key, k, sizeof(k)),
			    cstr(val, v, sizeof(v)));
	return 0;
}

/* Number in [lo, hi]. */
static int parse_ranged(struct parser *p, struct span key, struct span val, uint64_t lo,
			uint64_t hi, uint64_t *out)
{
	char k[32], v[32];

	if (!parse_u64(val, out))
		return perr(p, "bad number '%s' for option '%s' (decimal or 0x hex)",
			    cstr(val, v, sizeof(v)), cstr(key, k, sizeof(k)));
	if (*out < lo || *out > hi)
		return perr(p, "option '%s' is %s, must be %llu..%llu", cstr(key, k, sizeof(k)),
			    cstr(val, v, sizeof(v)), (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

/* ---- tokens ------------------------------------------------------------- */

/* mem=SIZE (tok starts with "mem="). */
static int parse_mem(struct parser *p, struct span val)
{
	char v[32], sz[32];
	uint64_t mem;

	if (p->mem_seen)
		return perr(p, "mem given twice");
	if (!parse_size(val, &mem))
		return perr(p, "bad size '%s' (a number with an optional K, M or G suffix)",
			    cstr(val, v, sizeof(v)));
	if (mem < MSPEC_MIN_MEM || mem > MSPEC_MAX_MEM) {
		format_size(mem, sz, sizeof(sz));
		return perr(p, "memory size %s out of range (1M..64G)", sz);
	}
	if (mem % GM_PAGE_SIZE != 0)
		return perr(p, "memory size %llu is not a multiple of the %u-byte page",
			    (unsigned long long)mem, GM_PAGE_SIZE);
	p->mem_seen = true;
	p->out->mem = mem;
	return 0;
}

/* Transport options seen on one device, for "given twice". */
#define SEEN_SLOT (1u << 0)
#define SEEN_ADDR (1u << 1)
#define SEEN_IRQ (1u << 2)
#define SEEN_MSIX (1u << 3)
#define SEEN_VECTORS (1u << 4)
#define SEEN_SWITCH0 (1u << 5) /* one bit per feature switch from here */

/* A transport option (key known to be one). *seen tracks repeats. */
static int parse_transport_opt(struct parser *p, struct mspec_dev *d, struct span key,
			       struct span val, bool has_val, unsigned *seen)
{
	bool pci = is_pci(d->transport);
	unsigned flag = 0, i, sw = 0;
	uint64_t v;
	bool on;
	int err;
	char k[32], vb[32];

	cstr(key, k, sizeof(k));
	if (span_is(key, "slot"))
		flag = SEEN_SLOT;
	else if (span_is(key, "addr"))
		flag = SEEN_ADDR;
	else if (span_is(key, "irq"))
		flag = SEEN_IRQ;
	else if (span_is(key, "msix"))
		flag = SEEN_MSIX;
	else if (span_is(key, "vectors"))
		flag = SEEN_VECTORS;
	for (i = 0; !flag && i < RS_ARRAY_SIZE(feature_switches); i++)
		if (span_is(key, feature_switches[i].name)) {
			flag = SEEN_SWITCH0 << i;
			sw = i;
		}

	if (*seen & flag)
		return perr(p, "option '%s' given twice", k);
	*seen |= flag;
	if ((flag & (SEEN_SLOT | SEEN_MSIX | SEEN_VECTORS)) && !pci)
		return perr(p, "option '%s' is for pci transports only", k);
	if (flag == SEEN_ADDR && pci)
		return perr(p, "option 'addr' is for mmio transports only");
	if (!has_val)
		return perr(p, "option '%s' needs a value ('%s=...')", k, k);

	switch (flag) {
	case SEEN_SLOT:
		err = parse_ranged(p, key, val, 1, MACHINE_PCI_SLOTS - 1, &v);
		if (!err)
			d->slot = (int)v;
		return err;
	case SEEN_ADDR:
		if (!parse_u64(val, &v))
			return perr(p, "bad number '%s' for option 'addr' (decimal or 0x hex)",
				    cstr(val, vb, sizeof(vb)));
		if (v % MACHINE_VMMIO_STRIDE != 0)
			return perr(p, "mmio address 0x%llx is not a multiple of 0x%llx",
				    (unsigned long long)v, MACHINE_VMMIO_STRIDE);
		if (v < MACHINE_VMMIO_BASE || v >= MACHINE_VMMIO_END)
			return perr(p, "mmio address 0x%llx outside the virtio-mmio window "
				       "0x%llx..0x%llx",
				    (unsigned long long)v, MACHINE_VMMIO_BASE,
				    MACHINE_VMMIO_END - 1);
		d->addr = v;
		return 0;
	case SEEN_IRQ:
		err = parse_ranged(p, key, val, 0, MSPEC_MAX_IRQ, &v);
		if (!err)
			d->irq = (int)v;
		return err;
	case SEEN_MSIX:
		return parse_switch(p, key, val, &d->msix);
	case SEEN_VECTORS:
		err = parse_ranged(p, key, val, 1, MSPEC_MAX_VECTORS, &v);
		if (!err)
			d->vectors = (unsigned)v;
		return err;
	default: /* a feature switch */
		err = parse_switch(p, key, val, &on);
		if (!err && !on)
			d->disable |= 1ull << feature_switches[sw].bit;
		return err;
	}
}

static bool is_transport_opt(struct span key)
{
	static const char *const names[] = { "slot", "addr", "irq", "msix", "vectors" };

	for (unsigned i = 0; i < RS_ARRAY_SIZE(names); i++)
		if (span_is(key, names[i]))
			return true;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(feature_switches); i++)
		if (span_is(key, feature_switches[i].name))
			return true;
	return false;
}

/* A device option for .args: key[=val]. */
static int parse_device_arg(struct parser *p, struct mspec_dev *d, struct span key,
			    struct span val, bool has_val)
{
	struct vdev_args *a = &d->args;
	char k[32];

	cstr(key, k, sizeof(k));
	for (unsigned i = 0; i < a->n; i++)
		if (span_is(key, a->kv[i].key))
			return perr(p, "option '%s' given twice", k);
	if (a->n >= VDEV_MAX_ARGS)
		return perr(p, "more than %u device options", VDEV_MAX_ARGS);
	if (val.n > VAL_MAX)
		return perr(p, "value of option '%s' longer than %zu characters", k, VAL_MAX);
	memcpy(a->kv[a->n].key, key.p, key.n);
	if (has_val)
		memcpy(a->kv[a->n].val, val.p, val.n);
	a->n++;
	return 0;
}

/* One OPT[=VAL] of a device token. */
static int parse_option(struct parser *p, struct mspec_dev *d, struct span opt,
			unsigned *seen)
{
	size_t eq = span_find(opt, '=');
	struct span key = span_head(opt, eq), val = span_after(opt, eq);
	bool has_val = eq < opt.n;
	size_t bad;
	char k[32], c[16];

	if (opt.n == 0)
		return perr(p, "empty option (stray ',')");
	if (key.n == 0)
		return perr(p, "stray '=' (an option needs a name before '=')");
	bad = bad_name_char(key);
	if (bad < key.n) {
		show_char(key.p[bad], c, sizeof(c));
		return perr(p, "bad character %s in option name '%s' (a-z, 0-9, _ and -)", c,
			    cstr(key, k, sizeof(k)));
	}
	if (key.n > KEY_MAX)
		return perr(p, "option name '%s' longer than %zu characters",
			    cstr(key, k, sizeof(k)), KEY_MAX);
	cstr(key, k, sizeof(k));
	if (has_val && val.n == 0)
		return perr(p, "option '%s' has nothing after '='", k);
	if (span_find(val, '=') < val.n)
		return perr(p, "stray '=' in the value of option '%s'", k);
	if (is_transport_opt(key))
		return parse_transport_opt(p, d, key, val, has_val, seen);
	return parse_device_arg(p, d, key, val, has_val);
}

/* Checks against the devices before this one (slots, mmio addresses). */
static int check_conflicts(struct parser *p, const struct mspec_dev *d, unsigned idx)
{
	for (unsigned i = 0; i < idx; i++) {
		const struct mspec_dev *o = &p->out->dev[i];

		if (is_pci(d->transport) && d->slot >= 0 && is_pci(o->transport) &&
		    o->slot == d->slot)
			return perr(p, "slot %d already taken by device %u (%s:%s)", d->slot,
				    i + 1, transport_names[o->transport], o->device);
		if (!is_pci(d->transport) && d->addr != 0 && !is_pci(o->transport) &&
		    o->addr == d->addr)
			return perr(p, "mmio address 0x%llx already taken by device %u (%s:%s)",
				    (unsigned long long)d->addr, i + 1,
				    transport_names[o->transport], o->device);
	}
	return 0;
}

/* TRANSPORT:DEVICE[,OPT[=VAL]]... (tok holds a ':'). */
static int parse_device(struct parser *p, struct span tok)
{
	size_t colon = span_find(tok, ':');
	struct span tname = span_head(tok, colon), rest = span_after(tok, colon);
	size_t comma = span_find(rest, ',');
	struct span name = span_head(rest, comma);
	struct mspec_dev *d;
	unsigned seen = 0, t;
	size_t bad;
	char buf[32], c[16];
	int err;

	if (p->out->ndev >= MSPEC_MAX_DEVICES)
		return perr(p, "more than %u devices", MSPEC_MAX_DEVICES);
	for (t = 0; t < MSPEC__COUNT; t++)
		if (span_is(tname, transport_names[t]))
			break;
	if (tname.n == 0)
		return perr(p, "missing transport before ':' (expected pci, pci-modern, "
			       "pci-legacy, mmio, mmio-legacy)");
	if (t == MSPEC__COUNT)
		return perr(p, "unknown transport '%s' (expected pci, pci-modern, pci-legacy, "
			       "mmio, mmio-legacy)",
			    cstr(tname, buf, sizeof(buf)));
	if (name.n == 0)
		return perr(p, "empty device name");
	bad = bad_name_char(name);
	if (bad < name.n) {
		show_char(name.p[bad], c, sizeof(c));
		return perr(p, "bad character %s in device name (a-z, 0-9, _ and -)", c);
	}
	if (name.n > NAME_MAX_LEN)
		return perr(p, "device name '%s' longer than %zu characters",
			    cstr(name, buf, sizeof(buf)), NAME_MAX_LEN);

	d = &p->out->dev[p->out->ndev];
	memset(d, 0, sizeof(*d));
	d->transport = (enum mspec_transport)t;
	memcpy(d->device, name.p, name.n);
	d->slot = -1;
	d->irq = -1;
	d->msix = true;

	/* options: each one up to the next ',' */
	while (comma < rest.n) {
		struct span opts = span_after(rest, comma);
		size_t next = span_find(opts, ',');

		err = parse_option(p, d, span_head(opts, next), &seen);
		if (err)
			return err;
		rest = opts;
		comma = next;
	}
	if ((seen & SEEN_VECTORS) && !d->msix)
		return perr(p, "option 'vectors' needs msix=on");
	err = check_conflicts(p, d, p->out->ndev);
	if (err)
		return err;
	p->out->ndev++;
	return 0;
}

/* One whitespace-free token. */
static int parse_token(struct parser *p, struct span tok)
{
	size_t eq = span_find(tok, '=');
	struct span key = span_head(tok, eq);
	char k[32];

	p->tok = tok;
	if (span_is(key, "mem") && eq < tok.n)
		return parse_mem(p, span_after(tok, eq));
	if (span_find(tok, ':') < tok.n)
		return parse_device(p, tok);
	if (eq == 0)
		return perr(p, "stray '=' (expected mem=SIZE or TRANSPORT:DEVICE[,OPT[=VAL]]...)");
	for (unsigned t = 0; t < MSPEC__COUNT; t++)
		if (span_is(key, transport_names[t]))
			return perr(p, "a device is TRANSPORT:DEVICE, e.g. '%s:blk'",
				    transport_names[t]);
	if (eq < tok.n)
		return perr(p, "unknown setting '%s' (the only machine setting is mem=SIZE)",
			    cstr(key, k, sizeof(k)));
	return perr(p, "expected mem=SIZE or TRANSPORT:DEVICE[,OPT[=VAL]]...");
}

static void mspec_reset(struct mspec *s)
{
	memset(s, 0, sizeof(*s));
	s->mem = MSPEC_DEFAULT_MEM;
}

int mspec_parse(const char *text, struct mspec *out, char *err, size_t errlen)
{
	struct parser p = { .out = out, .err = err, .errlen = errlen };
	size_t len, i = 0;

	mspec_reset(out);
	if (err && errlen)
		err[0] = '\0';
	if (!text)
		text = "";
	len = strnlen(text, MSPEC_MAX_TEXT + 1);
	if (len > MSPEC_MAX_TEXT) {
		if (err && errlen)
			snprintf(err, errlen, "machine spec: longer than %u characters",
				 MSPEC_MAX_TEXT);
		return -EINVAL;
	}
	while (i < len) {
		size_t start;
		int r;

		while (i < len && is_space(text[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_space(text[i]))
			i++;
		r = parse_token(&p, (struct span){ text + start, i - start });
		if (r) {
			mspec_reset(out);
			return r;
		}
	}
	return 0;
}

/* ---- printing ----------------------------------------------------------- */

struct outbuf {
	char *buf;
	size_t cap, len;
};

/* Append like snprintf; len counts what would have been written. */
RS_PRINTF(2, 3)
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
	char *dst = o->len < o->cap ? o->buf + o->len : NULL;
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

size_t mspec_format(const struct mspec *s, char *buf, size_t buflen)
{
	struct outbuf o = { .buf = buf, .cap = buflen };
	unsigned ndev = RS_MIN(s->ndev, (unsigned)MSPEC_MAX_DEVICES);
	char sz[32];

	if (buf && buflen)
		buf[0] = '\0';
	if (!buf)
		o.cap = 0;
	format_size(s->mem, sz, sizeof(sz));
	out_printf(&o, "mem=%s", sz);
	for (unsigned i = 0; i < ndev; i++) {
		const struct mspec_dev *d = &s->dev[i];
		const char *tname = mspec_transport_name(d->transport);
		unsigned nargs = RS_MIN(d->args.n, (unsigned)VDEV_MAX_ARGS);

		out_printf(&o, " %s:%.*s", tname ? tname : "invalid", (int)NAME_MAX_LEN, d->device);
		if (is_pci(d->transport) && d->slot >= 0)
			out_printf(&o, ",slot=%d", d->slot);
		if (!is_pci(d->transport) && d->addr != 0)
			out_printf(&o, ",addr=0x%llx", (unsigned long long)d->addr);
		if (d->irq >= 0)
			out_printf(&o, ",irq=%d", d->irq);
		if (is_pci(d->transport) && !d->msix)
			out_printf(&o, ",msix=off");
		if (is_pci(d->transport) && d->vectors != 0)
			out_printf(&o, ",vectors=%u", d->vectors);
		for (unsigned f = 0; f < RS_ARRAY_SIZE(feature_switches); f++)
			if (d->disable & (1ull << feature_switches[f].bit))
				out_printf(&o, ",%s=off", feature_switches[f].name);
		for (unsigned a = 0; a < nargs; a++) {
			out_printf(&o, ",%.*s", (int)KEY_MAX, d->args.kv[a].key);
			if (d->args.kv[a].val[0])
				out_printf(&o, "=%.*s", (int)VAL_MAX, d->args.kv[a].val);
		}
	}
	return o.len;
}
