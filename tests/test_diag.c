/* ringside tests — diagnostics: code table, counting, recent ring, hook,
 * stderr verbosity and rate limit, hostile codes. */
#include "check.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringside/diag.h"

/* True when s is "" or "virtio-v1.2 " followed by a dotted section number. */
static bool spec_well_formed(const char *s)
{
	static const char prefix[] = "virtio-v1.2 ";
	bool digit = false;

	if (!s[0])
		return true;
	if (strncmp(s, prefix, sizeof(prefix) - 1))
		return false;
	for (s += sizeof(prefix) - 1; *s; s++) {
		if (isdigit((unsigned char)*s))
			digit = true;
		else if (*s != '.' || !digit)
			return false;
		else
			digit = false;
	}
	return digit;
}

static void test_table(void)
{
	for (unsigned i = 0; i < DIAG__COUNT; i++) {
		enum diag_code c = (enum diag_code)i;
		enum diag_class cls = diag_class_of(c);
		const char *name = diag_name(c);

		CHECK(name && name[0]);
		CHECK(strcmp(name, "UNKNOWN") != 0);
		CHECK(cls == DIAG_CLASS_DRIVER || cls == DIAG_CLASS_DEVICE ||
		      cls == DIAG_CLASS_HOST);
		CHECK(diag_spec(c) != NULL);
		if (!spec_well_formed(diag_spec(c)))
			fprintf(stderr, "bad spec for %s: '%s'\n", name, diag_spec(c));
		CHECK(spec_well_formed(diag_spec(c)));
		/* names are unique */
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(name, diag_name((enum diag_code)j)) != 0);
		/* only these are not the driver's fault */
		if (c == DIAG_VQ_USED_LEN || c == DIAG_VQ_PUSH_INVALID || c == DIAG_DEVICE_ERROR)
			CHECK_EQ(cls, DIAG_CLASS_DEVICE);
		else if (c == DIAG_BACKEND_ERROR || c == DIAG_HOST_EVENT)
			CHECK_EQ(cls, DIAG_CLASS_HOST);
		else
			CHECK_EQ(cls, DIAG_CLASS_DRIVER);
	}
	CHECK(!strcmp(diag_name(DIAG_VQ_LOOP), "VQ_LOOP"));
	CHECK(!strcmp(diag_name(DIAG_GM_MMIO_DMA), "GM_MMIO_DMA"));
	CHECK(!strcmp(diag_name(DIAG_IO_UNMAPPED), "IO_UNMAPPED"));
	CHECK(!strcmp(diag_spec(DIAG_VQ_LOOP), "virtio-v1.2 2.7.5.3.1"));
	CHECK(!strcmp(diag_spec(DIAG_VQ_WRITE_ORDER), "virtio-v1.2 2.7.4.2"));
	CHECK(!strcmp(diag_spec(DIAG_STATUS_CLEAR), "virtio-v1.2 2.1.1"));
	CHECK(!strcmp(diag_spec(DIAG_FEATURES_NOT_OFFERED), "virtio-v1.2 2.2.1"));
	CHECK(!strcmp(diag_spec(DIAG_MSIX_VECTOR), "virtio-v1.2 4.1.5.1.2.2"));
	CHECK(!strcmp(diag_spec(DIAG_IO_UNMAPPED), ""));
	CHECK(!strcmp(diag_spec(DIAG_BACKEND_ERROR), ""));
}

static void test_init_and_report(void)
{
	struct diag_log log;
	const struct diag_entry *e;

	diag_init(&log, "blk0");
	CHECK(!strcmp(log.source, "blk0"));
	CHECK_EQ(log.total, 0);
	CHECK(diag_last(&log) == NULL);

	diag_report(&log, DIAG_VQ_LOOP, "chain at head %u loops", 3u);
	CHECK_EQ(diag_count(&log, DIAG_VQ_LOOP), 1);
	CHECK_EQ(log.total, 1);
	e = diag_last(&log);
	CHECK(e != NULL);
	if (e) {
		CHECK_EQ(e->code, DIAG_VQ_LOOP);
		CHECK(!strcmp(e->source, "blk0"));
		CHECK(!strcmp(e->msg, "virtio-v1.2 2.7.5.3.1: chain at head 3 loops"));
	}

	/* a code whose rule is ours gets no prefix */
	diag_report(&log, DIAG_IO_UNMAPPED, "port 0x%x", 0x80u);
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "port 0x80"));
	CHECK_EQ(diag_count(&log, DIAG_IO_UNMAPPED), 1);
	CHECK_EQ(diag_count(&log, DIAG_VQ_LOOP), 1);
	CHECK_EQ(log.total, 2);

	/* an empty message never leaves an empty entry */
	diag_report(&log, DIAG_BACKEND_ERROR, "%s", "");
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "BACKEND_ERROR"));
	diag_report(&log, DIAG_VQ_LOOP, "%s", "");
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "virtio-v1.2 2.7.5.3.1: "));

	/* NULL source, over-long source */
	diag_init(&log, NULL);
	CHECK(!strcmp(log.source, ""));
	diag_report(&log, DIAG_NONE, "x");
	CHECK(diag_last(&log) && !strcmp(diag_last(&log)->source, ""));
	diag_init(&log, "a-very-long-source-name-that-does-not-fit");
	CHECK_EQ(strlen(log.source), sizeof(log.source) - 1);
	CHECK(!strncmp(log.source, "a-very-long-source-name-that", sizeof(log.source) - 1));
}

static void test_truncation(void)
{
	struct diag_log log;
	char big[600];
	const struct diag_entry *e;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	diag_init(&log, "t");
	diag_report(&log, DIAG_VQ_SIZE, "%s", big);
	e = diag_last(&log);
	CHECK(e != NULL);
	if (e) {
		CHECK_EQ(strlen(e->msg), sizeof(e->msg) - 1);
		CHECK(!strncmp(e->msg, "virtio-v1.2 2.7: xxx", 20));
		CHECK_EQ(e->msg[sizeof(e->msg) - 2], 'x');
	}
	CHECK_EQ(diag_count(&log, DIAG_VQ_SIZE), 1);
}

static void test_null_log(void)
{
	/* dropped, no crash */
	diag_report(NULL, DIAG_VQ_LOOP, "nobody listens %d", 1);
	CHECK(diag_last(NULL) == NULL);
	CHECK_EQ(diag_count_class(NULL, DIAG_CLASS_DRIVER), 0);
}

static void test_ring_wraps(void)
{
	struct diag_log log;
	const struct diag_entry *e;
	char want[32];

	diag_init(&log, "ring");
	for (unsigned i = 0; i < DIAG_KEEP + 3; i++)
		diag_report(&log, DIAG_REG_UNKNOWN, "n%u", i);
	CHECK_EQ(log.total, DIAG_KEEP + 3);
	CHECK_EQ(diag_count(&log, DIAG_REG_UNKNOWN), DIAG_KEEP + 3);
	CHECK_EQ(log.recent_head, 3);
	e = diag_last(&log);
	snprintf(want, sizeof(want), "virtio-v1.2 4.2.2.2: n%u", DIAG_KEEP + 2);
	CHECK(e && !strcmp(e->msg, want));
	/* the oldest kept entry is report 3, in the slot after the newest */
	snprintf(want, sizeof(want), "virtio-v1.2 4.2.2.2: n%u", 3u);
	CHECK(!strcmp(log.recent[3].msg, want));
	snprintf(want, sizeof(want), "virtio-v1.2 4.2.2.2: n%u", DIAG_KEEP);
	CHECK(!strcmp(log.recent[0].msg, want));

	/* clear forgets entries and counts, keeps source */
	diag_clear(&log);
	CHECK_EQ(log.total, 0);
	CHECK_EQ(diag_count(&log, DIAG_REG_UNKNOWN), 0);
	CHECK_EQ(log.recent_head, 0);
	CHECK(diag_last(&log) == NULL);
	CHECK(!strcmp(log.source, "ring"));

	/* a garbage recent_head is reduced, never used as an index as is */
	log.recent_head = 1000;
	diag_report(&log, DIAG_NONE, "safe");
	CHECK(log.recent_head < DIAG_KEEP);
	CHECK(diag_last(&log) && !strcmp(diag_last(&log)->msg, "safe"));
}

struct hook_rec {
	unsigned calls;
	enum diag_code last_code;
	char last_msg[160];
	const struct diag_log *log;
	bool entry_in_ring;
};

static void hook(void *ctx, const struct diag_entry *e)
{
	struct hook_rec *h = ctx;

	h->calls++;
	h->last_code = e->code;
	snprintf(h->last_msg, sizeof(h->last_msg), "%s", e->msg);
	h->entry_in_ring = e >= &h->log->recent[0] && e < &h->log->recent[DIAG_KEEP];
}

static void test_hook(void)
{
	struct diag_log log;
	struct hook_rec h = { 0 };

	diag_init(&log, "hooked");
	h.log = &log;
	log.hook = hook;
	log.hook_ctx = &h;
	diag_report(&log, DIAG_VQ_USED_LEN, "len %u > %u", 10u, 4u);
	CHECK_EQ(h.calls, 1);
	CHECK_EQ(h.last_code, DIAG_VQ_USED_LEN);
	CHECK(!strcmp(h.last_msg, "virtio-v1.2 2.7.8.2: len 10 > 4"));
	CHECK(h.entry_in_ring);
	/* the count is already updated when the hook runs: report again */
	diag_report(&log, DIAG_NEEDS_RESET, "x");
	CHECK_EQ(h.calls, 2);
	CHECK_EQ(h.last_code, DIAG_NEEDS_RESET);
	/* clear keeps the hook */
	diag_clear(&log);
	CHECK(log.hook == hook && log.hook_ctx == &h);
	diag_report(&log, DIAG_NONE, "y");
	CHECK_EQ(h.calls, 3);
}

static void test_out_of_range(void)
{
	struct diag_log log;
	struct hook_rec h = { 0 };
	enum diag_code bad[] = { (enum diag_code)DIAG__COUNT, (enum diag_code)(DIAG__COUNT + 100),
				 (enum diag_code)-1 };

	diag_init(&log, "bad");
	h.log = &log;
	log.hook = hook;
	log.hook_ctx = &h;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		CHECK(!strcmp(diag_name(bad[i]), "UNKNOWN"));
		CHECK(!strcmp(diag_spec(bad[i]), ""));
		CHECK_EQ(diag_class_of(bad[i]), DIAG_CLASS_DEVICE);
		CHECK_EQ(diag_count(&log, bad[i]), 0);
		diag_report(&log, bad[i], "bogus %u", i);
		CHECK_EQ(diag_count(&log, bad[i]), 0);
		/* shown to the hook under its raw number, not counted */
		CHECK_EQ(h.calls, i + 1);
		CHECK_EQ(h.last_code, bad[i]);
	}
	CHECK_EQ(log.total, 0);
	for (unsigned c = 0; c < DIAG__COUNT; c++)
		CHECK_EQ(log.count[c], 0);
	CHECK(diag_last(&log) && !strcmp(diag_last(&log)->msg, "bogus 2"));
}

static void test_count_class(void)
{
	struct diag_log log;

	diag_init(&log, "cls");
	diag_report(&log, DIAG_VQ_LOOP, "a");
	diag_report(&log, DIAG_STATUS_ORDER, "b");
	diag_report(&log, DIAG_STATUS_ORDER, "c");
	diag_report(&log, DIAG_VQ_PUSH_INVALID, "d");
	diag_report(&log, DIAG_DEVICE_ERROR, "e");
	diag_report(&log, DIAG_BACKEND_ERROR, "f");
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_DRIVER), 3);
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_DEVICE), 2);
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_HOST), 1);
	CHECK_EQ(diag_count_class(&log, (enum diag_class)7), 0);
	CHECK_EQ(log.total, 6);

	/* per-code counts saturate instead of wrapping */
	log.count[DIAG_VQ_LOOP] = UINT32_MAX - 1;
	diag_report(&log, DIAG_VQ_LOOP, "g");
	diag_report(&log, DIAG_VQ_LOOP, "h");
	CHECK_EQ(diag_count(&log, DIAG_VQ_LOOP), UINT32_MAX);
	CHECK_EQ(log.total, 8);
}

/* Run fn with stderr sent to a temporary file; returns the file (rewound). */
static FILE *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved;

	if (!tmp)
		return NULL;
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	return tmp;
}

static unsigned count_lines(FILE *f, const char *needle, unsigned *matches)
{
	char line[512];
	unsigned n = 0;

	*matches = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, needle))
			(*matches)++;
	}
	return n;
}

static void report_twenty(void)
{
	struct diag_log log;

	diag_init(&log, "noisy");
	for (unsigned i = 0; i < 20; i++)
		diag_report(&log, DIAG_QUEUE_SELECT, "select %u", i);
	/* a second code has its own limit */
	diag_report(&log, DIAG_MSIX_VECTOR, "vector");
	/* out-of-range codes print too (nothing to rate-limit them by) */
	diag_report(&log, (enum diag_code)DIAG__COUNT, "bogus");
}

static void report_unnamed(void)
{
	struct diag_log log;

	memset(&log, 0, sizeof(log)); /* zero-initialised, no diag_init */
	diag_report(&log, DIAG_NONE, "anon");
}

/* Brief messages: driver and host reports keep their code's name, device
 * reports and reports at verbosity > 0 are formatted; counts and the hook
 * are the same either way. */
static void test_brief(void)
{
	struct diag_log log;
	const struct diag_entry *e;

	diag_init(&log, "brief");
	CHECK(diag_wants_text(DIAG_VQ_LOOP));
	diag_set_brief(true);
	CHECK(!diag_wants_text(DIAG_VQ_LOOP));
	CHECK(!diag_wants_text(DIAG_BACKEND_ERROR));
	CHECK(diag_wants_text(DIAG_DEVICE_ERROR));
	CHECK(diag_wants_text((enum diag_code)9999));
	diag_report(&log, DIAG_VQ_LOOP, "chain of %u", 7u);
	e = diag_last(&log);
	CHECK(e && e->code == DIAG_VQ_LOOP && !strcmp(e->msg, "VQ_LOOP"));
	diag_report(&log, DIAG_BACKEND_ERROR, "errno %d", 5);
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "BACKEND_ERROR"));
	diag_report(&log, DIAG_DEVICE_ERROR, "used len %u", 9u);
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "used len 9"));
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_DRIVER), 1);
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_HOST), 1);
	CHECK_EQ(diag_count_class(&log, DIAG_CLASS_DEVICE), 1);
	CHECK_EQ(log.total, 3);

	/* printing wants the text: verbosity > 0 formats everything */
	diag_set_verbosity(2);
	fflush(stderr);
	{
		int saved = dup(2), null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		diag_report(&log, DIAG_VQ_LOOP, "chain of %u", 8u);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		close(null);
	}
	diag_set_verbosity(0);
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "virtio-v1.2 2.7.5.3.1: chain of 8"));

	diag_set_brief(false);
	diag_report(&log, DIAG_VQ_LOOP, "chain of %u", 9u);
	e = diag_last(&log);
	CHECK(e && !strcmp(e->msg, "virtio-v1.2 2.7.5.3.1: chain of 9"));
}

static void test_verbosity(void)
{
	unsigned lines, supp, m;
	FILE *f;

	CHECK_EQ(diag_verbosity(), 0);
	diag_set_verbosity(-3);
	CHECK_EQ(diag_verbosity(), 0);
	diag_set_verbosity(9);
	CHECK_EQ(diag_verbosity(), 2);

	diag_set_verbosity(0);
	f = capture_stderr(report_twenty);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ(count_lines(f, "", &m), 0);
		fclose(f);
	}

	diag_set_verbosity(1);
	f = capture_stderr(report_twenty);
	CHECK(f != NULL);
	if (f) {
		lines = count_lines(f, "further reports suppressed", &supp);
		/* 8 of QUEUE_SELECT, 1 suppression line, MSIX_VECTOR, bogus */
		CHECK_EQ(lines, 11);
		CHECK_EQ(supp, 1);
		rewind(f);
		count_lines(f, "ringside: noisy: QUEUE_SELECT: virtio-v1.2 4.1.4.3: select 7", &m);
		CHECK_EQ(m, 1);
		rewind(f);
		count_lines(f, "select 8", &m);
		CHECK_EQ(m, 0);
		rewind(f);
		count_lines(f, "UNKNOWN: bogus", &m);
		CHECK_EQ(m, 1);
		fclose(f);
	}

	diag_set_verbosity(2);
	f = capture_stderr(report_twenty);
	CHECK(f != NULL);
	if (f) {
		lines = count_lines(f, "further reports suppressed", &supp);
		CHECK_EQ(lines, 22);
		CHECK_EQ(supp, 0);
		fclose(f);
	}
	f = capture_stderr(report_unnamed);
	CHECK(f != NULL);
	if (f) {
		count_lines(f, "ringside: -: NONE: anon", &m);
		CHECK_EQ(m, 1);
		fclose(f);
	}
	diag_set_verbosity(0);
}

int main(void)
{
	RUN(test_table);
	RUN(test_init_and_report);
	RUN(test_truncation);
	RUN(test_null_log);
	RUN(test_ring_wraps);
	RUN(test_hook);
	RUN(test_out_of_range);
	RUN(test_count_class);
	RUN(test_verbosity);
	RUN(test_brief);
	return check_done();
}
