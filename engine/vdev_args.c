/*
 * ringside — device options: the key=value pairs a machine spec gives one
 * device. A model's create() reads what it knows through these helpers,
 * which mark each key used; vdev_create() then refuses any key left unread.
 * Errors are one line naming the option and what was expected.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ringside/vdev.h"

/* Value of key (marked used), or NULL when absent. Only the first
 * VDEV_MAX_ARGS entries exist, whatever a->n says. */
const char *vdev_arg(struct vdev_args *a, const char *key)
{
	if (!a || !key)
		return NULL;
	for (unsigned i = 0; i < RS_MIN(a->n, (unsigned)VDEV_MAX_ARGS); i++) {
		if (strcmp(a->kv[i].key, key) == 0) {
			a->kv[i].used = true;
			return a->kv[i].val;
		}
	}
	return NULL;
}

/* Value of hex or decimal digit c in base, or -1. */
static int vdev_digit(char c, unsigned base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return (unsigned)v < base ? v : -1;
}

/*
 * Parse "4096", "0x1000", "64K", "8M", "1G" (binary multiples; suffix in
 * either case). Returns 0 with *out, -EINVAL on bad syntax, -ERANGE when
 * the value does not fit 64 bits. Bounded by the string's length.
 */
static int vdev_parse_size(const char *s, uint64_t *out)
{
	unsigned base = 10, shift = 0;
	bool overflow = false;
	uint64_t v = 0;
	int dv;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (vdev_digit(*s, base) < 0)
		return -EINVAL;
	for (; (dv = vdev_digit(*s, base)) >= 0; s++) {
		if (v > (UINT64_MAX - (unsigned)dv) / base)
			overflow = true;
		else
			v = v * base + (unsigned)dv;
	}
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	default: break;
	}
	if (*s)
		return -EINVAL;
	if (overflow || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

/* Size option (see vdev.h). On error *out is left alone and err says which
 * option and what was expected. */
int vdev_arg_size(struct vdev_args *a, const char *key, uint64_t dflt, uint64_t *out, char *err,
		  size_t errlen)
{
	const char *v = vdev_arg(a, key);
	int r;

	if (!v) {
		*out = dflt;
		return 0;
	}
	r = vdev_parse_size(v, out);
	if (r == 0)
		return 0;
	if (err && errlen) {
		if (r == -ERANGE)
			snprintf(err, errlen, "option '%s': value too large", key);
		else
			snprintf(err, errlen,
				 "option '%s': expected a size such as 4096, 64K, 8M, 1G or "
				 "0x1000, got '%s'", key, v);
	}
	return -EINVAL;
}

/* Boolean option (see vdev.h); words match in any case. */
int vdev_arg_bool(struct vdev_args *a, const char *key, bool dflt, bool *out, char *err,
		  size_t errlen)
{
	static const char *const on[] = { "", "on", "yes", "1", "true" };
	static const char *const off[] = { "off", "no", "0", "false" };
	const char *v = vdev_arg(a, key);

	if (!v) {
		*out = dflt;
		return 0;
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(on); i++) {
		if (strcasecmp(v, on[i]) == 0) {
			*out = true;
			return 0;
		}
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(off); i++) {
		if (strcasecmp(v, off[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	if (err && errlen)
		snprintf(err, errlen,
			 "option '%s': expected on/off, yes/no, true/false or 1/0, got '%s'", key,
			 v);
	return -EINVAL;
}
