/*
 * ringside tests — machine spec: parsing, every error message, canonical
 * printing and parse(format(x)) == x.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/machine.h"
#include "ringside/mspec.h"
#include "ringside/transport.h"

_Static_assert(MSPEC_MAX_DEVICES <= MACHINE_MAX_DEVICES, "builder has room for every device");
_Static_assert(VPCI_MSIX_MAX_VECTORS == 64, "vectors= limit in mspec.c and docs");

static struct mspec spec, spec2;
static char err[512];

static int parse(const char *text)
{
	memset(err, 'x', sizeof(err));
	return mspec_parse(text, &spec, err, sizeof(err));
}

/* The spec is rejected with one line that quotes token and says what. */
static void expect_error(const char *text, const char *token, const char *what, int line)
{
	char quoted[200];
	int r = parse(text);

	snprintf(quoted, sizeof(quoted), "'%s'", token);
	if (r != -EINVAL || strncmp(err, "machine spec: ", 14) != 0 || !strstr(err, quoted) ||
	    !strstr(err, what) || strchr(err, '\n')) {
		fprintf(stderr, "line %d: spec \"%.80s\": got %d \"%s\", wanted %s and \"%s\"\n",
			line, text, r, err, quoted, what);
		check_fail(__FILE__, line, "expect_error");
	}
	/* a failed parse leaves an empty spec */
	CHECK_EQ(spec.ndev, 0);
	CHECK_EQ(spec.mem, MSPEC_DEFAULT_MEM);
}
#define EXPECT_ERROR(text, token, what) expect_error(text, token, what, __LINE__)

/* format(parse(text)) is canon, and parsing canon gives the same struct. */
static void expect_canon(const char *text, const char *canon, int line)
{
	char buf[4200], buf2[4200];
	size_t n;

	if (mspec_parse(text, &spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "line %d: \"%s\" rejected: %s\n", line, text, err);
		check_fail(__FILE__, line, "expect_canon parse");
		return;
	}
	n = mspec_format(&spec, buf, sizeof(buf));
	if (n != strlen(buf) || strcmp(buf, canon) != 0) {
		fprintf(stderr, "line %d: \"%s\" printed as \"%s\", wanted \"%s\"\n", line, text,
			buf, canon);
		check_fail(__FILE__, line, "expect_canon format");
	}
	if (mspec_parse(buf, &spec2, err, sizeof(err)) != 0 ||
	    memcmp(&spec, &spec2, sizeof(spec)) != 0) {
		fprintf(stderr, "line %d: \"%s\" does not parse back to the same spec\n", line,
			buf);
		check_fail(__FILE__, line, "expect_canon round trip");
	}
	mspec_format(&spec2, buf2, sizeof(buf2));
	if (strcmp(buf, buf2) != 0)
		check_fail(__FILE__, line, "format is not a fixed point");
}
#define EXPECT_CANON(text, canon) expect_canon(text, canon, __LINE__)

static void test_transport_names(void)
{
	CHECK(strcmp(mspec_transport_name(MSPEC_PCI), "pci") == 0);
	CHECK(strcmp(mspec_transport_name(MSPEC_PCI_MODERN), "pci-modern") == 0);
	CHECK(strcmp(mspec_transport_name(MSPEC_PCI_LEGACY), "pci-legacy") == 0);
	CHECK(strcmp(mspec_transport_name(MSPEC_MMIO), "mmio") == 0);
	CHECK(strcmp(mspec_transport_name(MSPEC_MMIO_LEGACY), "mmio-legacy") == 0);
	CHECK(mspec_transport_name(MSPEC__COUNT) == NULL);
	CHECK(mspec_transport_name((enum mspec_transport)-1) == NULL);
}

static void test_empty(void)
{
	CHECK_EQ(parse(""), 0);
	CHECK_EQ(err[0], '\0');
	CHECK_EQ(spec.ndev, 0);
	CHECK_EQ(spec.mem, MSPEC_DEFAULT_MEM);
	CHECK_EQ(parse(" \t\n\r\v\f  "), 0);
	CHECK_EQ(spec.ndev, 0);
	CHECK_EQ(mspec_parse(NULL, &spec, err, sizeof(err)), 0);
	CHECK_EQ(spec.ndev, 0);
	EXPECT_CANON("", "mem=64M");
}

static void test_example(void)
{
	const struct mspec_dev *d;

	CHECK_EQ(parse("mem=64M pci:blk,size=8M mmio:rng pci-legacy:net"), 0);
	CHECK_EQ(spec.mem, 64ull << 20);
	CHECK_EQ(spec.ndev, 3);
	d = &spec.dev[0];
	CHECK_EQ(d->transport, MSPEC_PCI);
	CHECK(strcmp(d->device, "blk") == 0);
	CHECK_EQ(d->slot, -1);
	CHECK_EQ(d->addr, 0);
	CHECK_EQ(d->irq, -1);
	CHECK_EQ(d->msix, true);
	CHECK_EQ(d->vectors, 0);
	CHECK_EQ(d->disable, 0);
	CHECK_EQ(d->args.n, 1);
	CHECK(strcmp(d->args.kv[0].key, "size") == 0);
	CHECK(strcmp(d->args.kv[0].val, "8M") == 0);
	CHECK_EQ(d->args.kv[0].used, false);
	d = &spec.dev[1];
	CHECK_EQ(d->transport, MSPEC_MMIO);
	CHECK(strcmp(d->device, "rng") == 0);
	CHECK_EQ(d->args.n, 0);
	d = &spec.dev[2];
	CHECK_EQ(d->transport, MSPEC_PCI_LEGACY);
	CHECK(strcmp(d->device, "net") == 0);
	EXPECT_CANON("mem=64M pci:blk,size=8M mmio:rng pci-legacy:net",
		     "mem=64M pci:blk,size=8M mmio:rng pci-legacy:net");
}

static void test_transport_options(void)
{
	const struct mspec_dev *d;

	CHECK_EQ(parse("pci-modern:blk,slot=0x1f,irq=23,msix=on,vectors=64,packed=off,"
		       "indirect=off,event-idx=on,in-order=off"),
		 0);
	d = &spec.dev[0];
	CHECK_EQ(d->transport, MSPEC_PCI_MODERN);
	CHECK_EQ(d->slot, 31);
	CHECK_EQ(d->irq, 23);
	CHECK_EQ(d->msix, true);
	CHECK_EQ(d->vectors, 64);
	CHECK_EQ(d->disable, 1ull << VIRTIO_F_RING_PACKED | 1ull << VIRTIO_F_INDIRECT_DESC |
				     1ull << VIRTIO_F_IN_ORDER);
	CHECK_EQ(d->args.n, 0);

	CHECK_EQ(parse("pci:x,slot=1,msix=off,event-idx=off,irq=0"), 0);
	d = &spec.dev[0];
	CHECK_EQ(d->slot, 1);
	CHECK_EQ(d->irq, 0);
	CHECK_EQ(d->msix, false);
	CHECK_EQ(d->vectors, 0);
	CHECK_EQ(d->disable, 1ull << VIRTIO_F_EVENT_IDX);

	CHECK_EQ(parse("mmio-legacy:rng,addr=0xd0001000,irq=5,packed=on"), 0);
	d = &spec.dev[0];
	CHECK_EQ(d->transport, MSPEC_MMIO_LEGACY);
	CHECK_EQ(d->addr, 0xd0001000ull);
	CHECK_EQ(d->irq, 5);
	CHECK_EQ(d->slot, -1);
	CHECK_EQ(d->disable, 0);

	/* edges of the windows, decimal and hex */
	CHECK_EQ(parse("mmio:a,addr=3489660928 mmio:b,addr=0xdffff000 mmio:c,addr=0XD0002000"), 0);
	CHECK_EQ(spec.dev[0].addr, MACHINE_VMMIO_BASE);
	CHECK_EQ(spec.dev[1].addr, MACHINE_VMMIO_END - MACHINE_VMMIO_STRIDE);
	CHECK_EQ(spec.dev[2].addr, 0xd0002000ull);
	CHECK_EQ(parse("pci:a,vectors=1,irq=0x17"), 0);
	CHECK_EQ(spec.dev[0].vectors, 1);
	CHECK_EQ(spec.dev[0].irq, 23);
}

static void test_device_args(void)
{
	char key23[24], val103[104], text[300];
	const struct vdev_args *a;

	CHECK_EQ(parse("pci:blk,ro,file=/tmp/a:b.img,size=0x100,serial=ABC_x-1"), 0);
	a = &spec.dev[0].args;
	CHECK_EQ(a->n, 4);
	CHECK(strcmp(a->kv[0].key, "ro") == 0);
	CHECK(strcmp(a->kv[0].val, "") == 0);        /* a bare key has an empty value */
	CHECK(strcmp(a->kv[1].key, "file") == 0);
	CHECK(strcmp(a->kv[1].val, "/tmp/a:b.img") == 0);
	CHECK(strcmp(a->kv[2].val, "0x100") == 0);   /* device values are not interpreted */
	CHECK(strcmp(a->kv[3].val, "ABC_x-1") == 0);

	/* longest key and value */
	memset(key23, 'k', 23);
	key23[23] = '\0';
	memset(val103, 'v', 103);
	val103[103] = '\0';
	snprintf(text, sizeof(text), "mmio:x,%s=%s", key23, val103);
	CHECK_EQ(parse(text), 0);
	CHECK(strcmp(spec.dev[0].args.kv[0].key, key23) == 0);
	CHECK(strcmp(spec.dev[0].args.kv[0].val, val103) == 0);

	/* 16 options is the limit */
	CHECK_EQ(parse("pci:x,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,n=14,o=15,p"),
		 0);
	CHECK_EQ(spec.dev[0].args.n, VDEV_MAX_ARGS);
	CHECK(strcmp(spec.dev[0].args.kv[15].key, "p") == 0);
	/* transport options do not count */
	CHECK_EQ(parse("pci:x,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,n=14,o=15,p,"
		       "slot=2,irq=3,msix=on,vectors=2,packed=on,indirect=on,event-idx=on,"
		       "in-order=on"),
		 0);
}

static void test_mem(void)
{
	static const struct {
		const char *text;
		uint64_t mem;
	} ok[] = {
		{ "mem=64M", 64ull << 20 },
		{ "mem=64m", 64ull << 20 },
		{ "mem=0x4000000", 64ull << 20 },
		{ "mem=67108864", 64ull << 20 },
		{ "mem=65536K", 64ull << 20 },
		{ "mem=65536k", 64ull << 20 },
		{ "mem=1M", 1ull << 20 },
		{ "mem=1048576", 1ull << 20 },
		{ "mem=1028K", 1028ull << 10 },
		{ "mem=1G", 1ull << 30 },
		{ "mem=1g", 1ull << 30 },
		{ "mem=3G", 3ull << 30 },
		{ "mem=3076M", 3076ull << 20 },
		{ "mem=64G", 64ull << 30 },
		{ "mem=0x10G", 16ull << 30 },
		{ "mem=0001M", 1ull << 20 },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(ok); i++) {
		CHECK_EQ(parse(ok[i].text), 0);
		CHECK_EQ(spec.mem, ok[i].mem);
	}
	/* mem may come anywhere */
	CHECK_EQ(parse("pci:blk mem=128M mmio:rng"), 0);
	CHECK_EQ(spec.mem, 128ull << 20);
	CHECK_EQ(spec.ndev, 2);
}

static void test_format_canonical(void)
{
	EXPECT_CANON("mem=0x4000000", "mem=64M");
	EXPECT_CANON("mem=1048576", "mem=1M");
	EXPECT_CANON("mem=1028K", "mem=1028K");
	EXPECT_CANON("mem=1536M", "mem=1536M");
	EXPECT_CANON("mem=2048M", "mem=2G");
	EXPECT_CANON("mem=3145732K", "mem=3145732K");
	EXPECT_CANON("mem=64g", "mem=64G");
	EXPECT_CANON("  pci:blk\tmmio:rng  ", "mem=64M pci:blk mmio:rng");
	/* defaults are left out, the rest in a fixed order, args in given order */
	EXPECT_CANON("pci:blk,msix=on,packed=on,indirect=on,event-idx=on,in-order=on",
		     "mem=64M pci:blk");
	EXPECT_CANON("pci-modern:blk,z=1,in-order=off,a,vectors=0x8,packed=off,msix=on,"
		     "irq=0x10,slot=07,event-idx=off,indirect=off,y=2",
		     "mem=64M pci-modern:blk,slot=7,irq=16,vectors=8,packed=off,indirect=off,"
		     "event-idx=off,in-order=off,z=1,a,y=2");
	EXPECT_CANON("pci-legacy:net,msix=off mem=1G",
		     "mem=1G pci-legacy:net,msix=off");
	EXPECT_CANON("mmio:rng,irq=7,addr=3489665024 mmio-legacy:con,packed=off",
		     "mem=64M mmio:rng,addr=0xd0001000,irq=7 mmio-legacy:con,packed=off");
	EXPECT_CANON("mem=64M pci:blk,size=8M mmio:rng pci-legacy:net",
		     "mem=64M pci:blk,size=8M mmio:rng pci-legacy:net");
}

static void test_format_buffer(void)
{
	char buf[64];
	size_t n;

	CHECK_EQ(parse("mem=1G pci:blk,size=8M mmio:rng"), 0);
	n = mspec_format(&spec, NULL, 0);
	CHECK_EQ(n, strlen("mem=1G pci:blk,size=8M mmio:rng"));
	memset(buf, 'x', sizeof(buf));
	CHECK_EQ(mspec_format(&spec, buf, 10), n);
	CHECK(strcmp(buf, "mem=1G pc") == 0);           /* truncated, NUL-terminated */
	CHECK_EQ(buf[10], 'x');
	CHECK_EQ(mspec_format(&spec, buf, 1), n);
	CHECK_EQ(buf[0], '\0');
	CHECK_EQ(mspec_format(&spec, buf, n), n);
	CHECK_EQ(strlen(buf), n - 1);
	CHECK_EQ(mspec_format(&spec, buf, n + 1), n);
	CHECK(strcmp(buf, "mem=1G pci:blk,size=8M mmio:rng") == 0);

	/* hand-built structs: out-of-range fields do not break the printer */
	memset(&spec, 0, sizeof(spec));
	spec.mem = 12345;
	spec.ndev = 1000;
	spec.dev[0].transport = (enum mspec_transport)42;
	memcpy(spec.dev[0].device, "abcdefghijklmnop", 16); /* no NUL */
	spec.dev[0].slot = -1;
	spec.dev[0].irq = -1;
	spec.dev[0].args.n = 99;
	n = mspec_format(&spec, NULL, 0);
	CHECK(n > 0);
	{
		char *big = malloc(n + 1);

		CHECK_EQ(mspec_format(&spec, big, n + 1), n);
		CHECK(strncmp(big, "mem=12345 invalid:abcdefghijklmno,", 34) == 0);
		free(big);
	}
	memset(&spec, 0, sizeof(spec));
	CHECK_EQ(mspec_format(&spec, buf, sizeof(buf)), 5);
	CHECK(strcmp(buf, "mem=0") == 0);
}

/* Round trips of generated specs: every transport and option combination. */
static void test_round_trip_generated(void)
{
	static const char *const tr[] = { "pci", "pci-modern", "pci-legacy", "mmio",
					  "mmio-legacy" };
	char text[4096], canon[4200], canon2[4200];
	unsigned seed = 12345;

	for (unsigned iter = 0; iter < 300; iter++) {
		size_t len = 0;
		unsigned ndev = iter % (MSPEC_MAX_DEVICES + 1);
		unsigned slot = 1, addr = 0;

		len += (size_t)snprintf(text + len, sizeof(text) - len, "mem=%uM",
					1 + (iter * 37) % 4000);
		for (unsigned i = 0; i < ndev; i++) {
			unsigned t;

			seed = seed * 1103515245u + 12345u;
			t = (seed >> 16) % 5;
			len += (size_t)snprintf(text + len, sizeof(text) - len, " %s:d%u", tr[t], i);
			if (t < 3 && (seed & 1))
				len += (size_t)snprintf(text + len, sizeof(text) - len, ",slot=%u",
							slot++);
			if (t >= 3 && (seed & 2))
				len += (size_t)snprintf(text + len, sizeof(text) - len,
							",addr=0x%x", 0xd0000000u + 0x1000u * addr++);
			if (seed & 4)
				len += (size_t)snprintf(text + len, sizeof(text) - len, ",irq=%u",
							(seed >> 8) % 24);
			if (t < 3 && (seed & 8))
				len += (size_t)snprintf(text + len, sizeof(text) - len, ",msix=off");
			else if (t < 3 && (seed & 16))
				len += (size_t)snprintf(text + len, sizeof(text) - len,
							",vectors=%u", 1 + (seed >> 4) % 64);
			if (seed & 32)
				len += (size_t)snprintf(text + len, sizeof(text) - len, ",packed=off");
			if (seed & 64)
				len += (size_t)snprintf(text + len, sizeof(text) - len,
							",in-order=off");
			if (seed & 128)
				len += (size_t)snprintf(text + len, sizeof(text) - len,
							",opt%u=v%u,flag", i, seed % 1000);
		}
		if (mspec_parse(text, &spec, err, sizeof(err)) != 0) {
			fprintf(stderr, "generated spec rejected: %s\n  %s\n", err, text);
			check_fail(__FILE__, __LINE__, "generated spec");
			continue;
		}
		CHECK_EQ(spec.ndev, ndev);
		mspec_format(&spec, canon, sizeof(canon));
		CHECK_EQ(mspec_parse(canon, &spec2, err, sizeof(err)), 0);
		CHECK_EQ(memcmp(&spec, &spec2, sizeof(spec)), 0);
		mspec_format(&spec2, canon2, sizeof(canon2));
		CHECK(strcmp(canon, canon2) == 0);
	}
}

static void test_errors_transport_and_name(void)
{
	CHECK_EQ(parse("pcix:blk"), -EINVAL);
	CHECK(strcmp(err, "machine spec: 'pcix:blk': unknown transport 'pcix' (expected pci, "
			  "pci-modern, pci-legacy, mmio, mmio-legacy)") == 0);
	EXPECT_ERROR("mem=64M PCI:blk", "PCI:blk", "unknown transport 'PCI'");
	EXPECT_ERROR(":blk", ":blk", "missing transport");
	EXPECT_ERROR("pci:", "pci:", "empty device name");
	EXPECT_ERROR("pci:,size=1", "pci:,size=1", "empty device name");
	EXPECT_ERROR("mmio:Rng", "mmio:Rng", "bad character 'R' in device name");
	EXPECT_ERROR("mmio:r.ng", "mmio:r.ng", "bad character '.'");
	EXPECT_ERROR("pci:blk:x", "pci:blk:x", "bad character ':'");
	EXPECT_ERROR("pci:blk=1", "pci:blk=1", "bad character '='");
	EXPECT_ERROR("pci:b\x01k", "pci:b?k", "bad character byte 0x01");
	EXPECT_ERROR("pci:b\xc3\xa9", "pci:b??", "bad character byte 0xc3");
	EXPECT_ERROR("pci:abcdefghijklmnop", "pci:abcdefghijklmnop", "longer than 15");
	CHECK_EQ(parse("pci:abcdefghijklmno"), 0);       /* 15 is fine */
	EXPECT_ERROR("blk", "blk", "expected mem=SIZE or TRANSPORT:DEVICE");
	EXPECT_ERROR("mem", "mem", "expected mem=SIZE");
	EXPECT_ERROR("pci=blk", "pci=blk", "'pci:blk'");
	EXPECT_ERROR("mmio-legacy", "mmio-legacy", "'mmio-legacy:blk'");
	EXPECT_ERROR("memory=1G", "memory=1G", "unknown setting 'memory'");
	EXPECT_ERROR("pci:blk =", "=", "stray '='");
	EXPECT_ERROR("=64M", "=64M", "stray '='");
}

static void test_errors_mem(void)
{
	EXPECT_ERROR("mem=64X", "mem=64X", "bad size '64X'");
	EXPECT_ERROR("mem=", "mem=", "bad size ''");
	EXPECT_ERROR("mem=M", "mem=M", "bad size 'M'");
	EXPECT_ERROR("mem=0x", "mem=0x", "bad size");
	EXPECT_ERROR("mem=0xG", "mem=0xG", "bad size");
	EXPECT_ERROR("mem=-1", "mem=-1", "bad size");
	EXPECT_ERROR("mem=1.5G", "mem=1.5G", "bad size");
	EXPECT_ERROR("mem=64MB", "mem=64MB", "bad size");
	EXPECT_ERROR("mem=2T", "mem=2T", "bad size");
	EXPECT_ERROR("mem=99999999999999999999", "mem=99999999999999999999", "bad size");
	EXPECT_ERROR("mem=0x10000000000000000", "mem=0x10000000000000000", "bad size");
	EXPECT_ERROR("mem=0xffffffffffG", "mem=0xffffffffffG", "bad size");
	EXPECT_ERROR("mem==64M", "mem==64M", "bad size '=64M'");
	EXPECT_ERROR("mem=1:2", "mem=1:2", "bad size");
	EXPECT_ERROR("mem=0", "mem=0", "out of range (1M..64G)");
	EXPECT_ERROR("mem=512K", "mem=512K", "memory size 512K out of range");
	EXPECT_ERROR("mem=1020K", "mem=1020K", "out of range");
	EXPECT_ERROR("mem=65G", "mem=65G", "memory size 65G out of range");
	EXPECT_ERROR("mem=0xffffffffffffffff", "mem=0xffffffffffffffff", "out of range");
	EXPECT_ERROR("mem=1048577", "mem=1048577", "not a multiple of the 4096-byte page");
	EXPECT_ERROR("mem=1025K", "mem=1025K", "not a multiple");
	EXPECT_ERROR("mem=64M pci:blk mem=64M", "mem=64M", "mem given twice");
}

static void test_errors_numbers(void)
{
	EXPECT_ERROR("pci:blk,slot=x", "pci:blk,slot=x", "bad number 'x' for option 'slot'");
	EXPECT_ERROR("pci:blk,slot=3M", "pci:blk,slot=3M", "bad number '3M'");
	EXPECT_ERROR("pci:blk,slot=-1", "pci:blk,slot=-1", "bad number");
	EXPECT_ERROR("pci:blk,slot=0x", "pci:blk,slot=0x", "bad number");
	EXPECT_ERROR("pci:blk,slot=0", "pci:blk,slot=0", "option 'slot' is 0, must be 1..31");
	EXPECT_ERROR("pci:blk,slot=32", "pci:blk,slot=32", "must be 1..31");
	EXPECT_ERROR("pci:blk,slot=99999999999999999999999", "pci:blk,slot=99999999999999999999999",
		     "bad number");
	EXPECT_ERROR("mmio:rng,irq=24", "mmio:rng,irq=24", "option 'irq' is 24, must be 0..23");
	EXPECT_ERROR("mmio:rng,irq=0x100000000", "mmio:rng,irq=0x100000000", "must be 0..23");
	EXPECT_ERROR("pci:blk,vectors=0", "pci:blk,vectors=0", "must be 1..64");
	EXPECT_ERROR("pci:blk,vectors=65", "pci:blk,vectors=65", "must be 1..64");
	EXPECT_ERROR("pci:blk,msix=yes", "pci:blk,msix=yes", "option 'msix' takes on or off");
	EXPECT_ERROR("pci:blk,packed=1", "pci:blk,packed=1", "option 'packed' takes on or off");
	EXPECT_ERROR("pci:blk,event-idx=OFF", "pci:blk,event-idx=OFF", "takes on or off");
	EXPECT_ERROR("pci:blk,msix=off,vectors=4", "pci:blk,msix=off,vectors=4",
		     "option 'vectors' needs msix=on");
	EXPECT_ERROR("pci:blk,vectors=4,msix=off", "pci:blk,vectors=4,msix=off",
		     "needs msix=on");
	EXPECT_ERROR("pci:blk,slot", "pci:blk,slot", "option 'slot' needs a value");
	EXPECT_ERROR("mmio:blk,irq", "mmio:blk,irq", "option 'irq' needs a value");
	EXPECT_ERROR("pci:blk,in-order", "pci:blk,in-order", "needs a value");
}

static void test_errors_mmio_addr(void)
{
	EXPECT_ERROR("mmio:rng,addr=0xd0000100", "mmio:rng,addr=0xd0000100",
		     "mmio address 0xd0000100 is not a multiple of 0x1000");
	EXPECT_ERROR("mmio:rng,addr=0xc0000000", "mmio:rng,addr=0xc0000000",
		     "outside the virtio-mmio window 0xd0000000..0xdfffffff");
	EXPECT_ERROR("mmio:rng,addr=0xe0000000", "mmio:rng,addr=0xe0000000", "outside");
	EXPECT_ERROR("mmio:rng,addr=0", "mmio:rng,addr=0", "outside");
	EXPECT_ERROR("mmio:rng,addr=0xcffff000", "mmio:rng,addr=0xcffff000", "outside");
	EXPECT_ERROR("mmio:rng,addr=zz", "mmio:rng,addr=zz", "bad number 'zz' for option 'addr'");
	EXPECT_ERROR("mmio:rng,addr=0xd0001000 mmio-legacy:blk,addr=0xd0001000",
		     "mmio-legacy:blk,addr=0xd0001000",
		     "mmio address 0xd0001000 already taken by device 1 (mmio:rng)");
	EXPECT_ERROR("mmio:a pci:b mmio:rng,addr=0xd0002000 mmio:c,addr=3489669120",
		     "mmio:c,addr=3489669120", "already taken by device 3 (mmio:rng)");
	/* different addresses, and auto-placed ones, do not conflict */
	CHECK_EQ(parse("mmio:a mmio:b mmio:c,addr=0xd0000000 mmio:d,addr=0xd0001000"), 0);
}

static void test_errors_slots(void)
{
	EXPECT_ERROR("pci:blk,slot=3 pci-legacy:net,slot=3", "pci-legacy:net,slot=3",
		     "slot 3 already taken by device 1 (pci:blk)");
	EXPECT_ERROR("pci:a mmio:b pci-modern:c,slot=0x1f pci:d,slot=31", "pci:d,slot=31",
		     "slot 31 already taken by device 3 (pci-modern:c)");
	CHECK_EQ(parse("pci:a pci:b pci:c,slot=1 pci:d,slot=2"), 0);
}

static void test_errors_options(void)
{
	/* repeated */
	EXPECT_ERROR("pci:blk,slot=1,slot=2", "pci:blk,slot=1,slot=2", "option 'slot' given twice");
	EXPECT_ERROR("pci:blk,slot=1,slot=1", "pci:blk,slot=1,slot=1", "given twice");
	EXPECT_ERROR("mmio:blk,addr=0xd0000000,addr=0xd0001000",
		     "mmio:blk,addr=0xd0000000,addr=0xd0001000", "option 'addr' given twice");
	EXPECT_ERROR("mmio:blk,irq=1,irq=2", "mmio:blk,irq=1,irq=2", "'irq' given twice");
	EXPECT_ERROR("pci:blk,msix=on,msix=on", "pci:blk,msix=on,msix=on", "'msix' given twice");
	EXPECT_ERROR("pci:blk,vectors=2,vectors=2", "pci:blk,vectors=2,vectors=2", "twice");
	EXPECT_ERROR("pci:blk,packed=off,packed=on", "pci:blk,packed=off,packed=on",
		     "option 'packed' given twice");
	EXPECT_ERROR("pci:blk,indirect=off,indirect=off", "pci:blk,indirect=off,indirect=off",
		     "'indirect' given twice");
	EXPECT_ERROR("pci:blk,size=1,ro,size=2", "pci:blk,size=1,ro,size=2",
		     "option 'size' given twice");
	EXPECT_ERROR("pci:blk,ro,ro", "pci:blk,ro,ro", "option 'ro' given twice");

	/* for the other transport */
	EXPECT_ERROR("mmio:rng,slot=1", "mmio:rng,slot=1", "option 'slot' is for pci transports only");
	EXPECT_ERROR("mmio-legacy:rng,msix=off", "mmio-legacy:rng,msix=off",
		     "option 'msix' is for pci transports only");
	EXPECT_ERROR("mmio:rng,vectors=2", "mmio:rng,vectors=2", "'vectors' is for pci");
	EXPECT_ERROR("pci:rng,addr=0xd0000000", "pci:rng,addr=0xd0000000",
		     "option 'addr' is for mmio transports only");
	EXPECT_ERROR("pci-legacy:rng,addr=0xd0000000", "pci-legacy:rng,addr=0xd0000000",
		     "is for mmio");

	/* shape of OPT[=VAL] */
	EXPECT_ERROR("pci:blk,", "pci:blk,", "empty option (stray ',')");
	EXPECT_ERROR("pci:blk,,ro", "pci:blk,,ro", "empty option");
	EXPECT_ERROR("pci:blk,=5", "pci:blk,=5", "stray '='");
	EXPECT_ERROR("pci:blk,=", "pci:blk,=", "stray '='");
	EXPECT_ERROR("pci:blk,size==8M", "pci:blk,size==8M", "stray '=' in the value of option 'size'");
	EXPECT_ERROR("pci:blk,size=8M=", "pci:blk,size=8M=", "stray '='");
	EXPECT_ERROR("pci:blk,slot=1=", "pci:blk,slot=1=", "stray '='");
	EXPECT_ERROR("pci:blk,size=", "pci:blk,size=", "option 'size' has nothing after '='");
	EXPECT_ERROR("pci:blk,slot=", "pci:blk,slot=", "has nothing after '='");
	EXPECT_ERROR("pci:blk,Size=1", "pci:blk,Size=1", "bad character 'S' in option name 'Size'");
	EXPECT_ERROR("pci:blk,a:b=1", "pci:blk,a:b=1", "bad character ':' in option name");
	EXPECT_ERROR("pci:blk,abcdefghijklmnopqrstuvwx=1", "pci:blk,abcdefghijklmnopqrstuvwx=1",
		     "option name 'abcdefghijklmnopqrstuvwx' longer than 23 characters");
	{
		char text[300], val[105];

		memset(val, 'v', 104);
		val[104] = '\0';
		snprintf(text, sizeof(text), "pci:blk,file=%s", val);
		CHECK_EQ(parse(text), -EINVAL);
		CHECK(strstr(err, "value of option 'file' longer than 103 characters") != NULL);
		CHECK(strstr(err, "'pci:blk,file=vvvv") != NULL);
	}
	EXPECT_ERROR("pci:x,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,n=14,o=15,p,q",
		     "pci:x,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=1...",
		     "more than 16 device options");
}

static void test_errors_limits(void)
{
	char *text = malloc(8192);
	size_t len = 0;

	/* 24 devices are fine, the 25th is named */
	for (unsigned i = 0; i < MSPEC_MAX_DEVICES; i++)
		len += (size_t)sprintf(text + len, "mmio:d%u ", i);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(spec.ndev, MSPEC_MAX_DEVICES);
	strcpy(text + len, "pci:extra");
	EXPECT_ERROR(text, "pci:extra", "more than 24 devices");

	/* 4096 characters are fine, 4097 are not */
	memset(text, ' ', 4096);
	memcpy(text + 4096 - 7, "pci:blk", 7);
	text[4096] = '\0';
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(spec.ndev, 1);
	memset(text, ' ', 4097);
	text[4097] = '\0';
	CHECK_EQ(parse(text), -EINVAL);
	CHECK(strcmp(err, "machine spec: longer than 4096 characters") == 0);
	CHECK_EQ(spec.ndev, 0);
	memset(text, 'a', 8000);
	text[8000] = '\0';
	CHECK_EQ(parse(text), -EINVAL);
	CHECK(strstr(err, "longer than 4096") != NULL);

	/* long tokens are quoted in part */
	memset(text, 'q', 200);
	text[200] = '\0';
	CHECK_EQ(parse(text), -EINVAL);
	CHECK(strlen(err) < 200);
	CHECK(strstr(err, "qqq...'") != NULL);
	free(text);
}

/* Errors are reported safely without an err buffer, and a failed parse
 * resets the output. */
static void test_errors_no_buffer(void)
{
	char small[12];

	CHECK_EQ(mspec_parse("pcix:blk", &spec, NULL, 0), -EINVAL);
	CHECK_EQ(mspec_parse("pcix:blk", &spec, err, 0), -EINVAL);
	CHECK_EQ(mspec_parse("mem=1G pci:a pci:b,slot=99", &spec, small, sizeof(small)), -EINVAL);
	CHECK(strcmp(small, "machine spe") == 0);
	CHECK_EQ(spec.ndev, 0);
	CHECK_EQ(spec.mem, MSPEC_DEFAULT_MEM);
	{
		char *text = malloc(5000);

		memset(text, ' ', 4999);
		text[4999] = '\0';
		CHECK_EQ(mspec_parse(text, &spec, NULL, 0), -EINVAL);
		free(text);
	}
}

/* The examples of docs/machine-spec.md, message for message. */
static void test_doc_examples(void)
{
	static const struct {
		const char *text, *msg;
	} e[] = {
		{ "pcix:blk", "'pcix:blk': unknown transport 'pcix' (expected pci, pci-modern, "
			      "pci-legacy, mmio, mmio-legacy)" },
		{ ":blk", "':blk': missing transport before ':' (expected pci, pci-modern, "
			  "pci-legacy, mmio, mmio-legacy)" },
		{ "pci:", "'pci:': empty device name" },
		{ "mmio:Rng", "'mmio:Rng': bad character 'R' in device name (a-z, 0-9, _ and -)" },
		{ "pci:abcdefghijklmnop",
		  "'pci:abcdefghijklmnop': device name 'abcdefghijklmnop' longer than 15 characters" },
		{ "blk", "'blk': expected mem=SIZE or TRANSPORT:DEVICE[,OPT[=VAL]]..." },
		{ "pci=blk", "'pci=blk': a device is TRANSPORT:DEVICE, e.g. 'pci:blk'" },
		{ "memory=1G",
		  "'memory=1G': unknown setting 'memory' (the only machine setting is mem=SIZE)" },
		{ "=64M", "'=64M': stray '=' (expected mem=SIZE or TRANSPORT:DEVICE[,OPT[=VAL]]...)" },
		{ "mem=64X", "'mem=64X': bad size '64X' (a number with an optional K, M or G suffix)" },
		{ "mem=512K", "'mem=512K': memory size 512K out of range (1M..64G)" },
		{ "mem=1048577",
		  "'mem=1048577': memory size 1048577 is not a multiple of the 4096-byte page" },
		{ "mem=64M mem=1G", "'mem=1G': mem given twice" },
		{ "pci:blk,slot=x", "'pci:blk,slot=x': bad number 'x' for option 'slot' (decimal or "
				    "0x hex)" },
		{ "pci:blk,slot=32", "'pci:blk,slot=32': option 'slot' is 32, must be 1..31" },
		{ "mmio:rng,irq=24", "'mmio:rng,irq=24': option 'irq' is 24, must be 0..23" },
		{ "pci:blk,vectors=65", "'pci:blk,vectors=65': option 'vectors' is 65, must be 1..64" },
		{ "pci:blk,msix=off,vectors=4",
		  "'pci:blk,msix=off,vectors=4': option 'vectors' needs msix=on" },
		{ "pci:blk,msix=yes", "'pci:blk,msix=yes': option 'msix' takes on or off, not 'yes'" },
		{ "pci:blk,slot", "'pci:blk,slot': option 'slot' needs a value ('slot=...')" },
		{ "pci:a,slot=3 pci:b,slot=3", "'pci:b,slot=3': slot 3 already taken by device 1 "
					       "(pci:a)" },
		{ "mmio:rng,addr=0xd0000100",
		  "'mmio:rng,addr=0xd0000100': mmio address 0xd0000100 is not a multiple of 0x1000" },
		{ "mmio:rng,addr=0xe0000000",
		  "'mmio:rng,addr=0xe0000000': mmio address 0xe0000000 outside the virtio-mmio "
		  "window 0xd0000000..0xdfffffff" },
		{ "mmio:a,addr=0xd0001000 mmio:b,addr=0xd0001000",
		  "'mmio:b,addr=0xd0001000': mmio address 0xd0001000 already taken by device 1 "
		  "(mmio:a)" },
		{ "pci:blk,slot=1,slot=2", "'pci:blk,slot=1,slot=2': option 'slot' given twice" },
		{ "mmio:rng,slot=1", "'mmio:rng,slot=1': option 'slot' is for pci transports only" },
		{ "pci:rng,addr=0xd0000000",
		  "'pci:rng,addr=0xd0000000': option 'addr' is for mmio transports only" },
		{ "pci:blk,", "'pci:blk,': empty option (stray ',')" },
		{ "pci:blk,=5", "'pci:blk,=5': stray '=' (an option needs a name before '=')" },
		{ "pci:blk,size==8M", "'pci:blk,size==8M': stray '=' in the value of option 'size'" },
		{ "pci:blk,size=", "'pci:blk,size=': option 'size' has nothing after '='" },
		{ "pci:blk,Size=1",
		  "'pci:blk,Size=1': bad character 'S' in option name 'Size' (a-z, 0-9, _ and -)" },
	};
	char want[400];

	for (unsigned i = 0; i < RS_ARRAY_SIZE(e); i++) {
		snprintf(want, sizeof(want), "machine spec: %s", e[i].msg);
		CHECK_EQ(parse(e[i].text), -EINVAL);
		if (strcmp(err, want) != 0) {
			fprintf(stderr, "spec \"%s\":\n  got  %s\n  want %s\n", e[i].text, err, want);
			check_fail(__FILE__, __LINE__, "doc example");
		}
	}
	EXPECT_CANON("pci-legacy:net,msix=off mem=0x40000000", "mem=1G pci-legacy:net,msix=off");
	EXPECT_CANON("pci-modern:blk,z=1,packed=off,irq=0x10,slot=07,a",
		     "mem=64M pci-modern:blk,slot=7,irq=16,packed=off,z=1,a");
	EXPECT_CANON("mmio:rng,irq=7,addr=3489665024", "mem=64M mmio:rng,addr=0xd0001000,irq=7");
	EXPECT_CANON("pci:blk,msix=on,packed=on", "mem=64M pci:blk");
}

int main(void)
{
	RUN(test_transport_names);
	RUN(test_empty);
	RUN(test_example);
	RUN(test_transport_options);
	RUN(test_device_args);
	RUN(test_mem);
	RUN(test_format_canonical);
	RUN(test_format_buffer);
	RUN(test_round_trip_generated);
	RUN(test_errors_transport_and_name);
	RUN(test_errors_mem);
	RUN(test_errors_numbers);
	RUN(test_errors_mmio_addr);
	RUN(test_errors_slots);
	RUN(test_errors_options);
	RUN(test_errors_limits);
	RUN(test_errors_no_buffer);
	RUN(test_doc_examples);
	return check_done();
}
