/*
 * ringside tests — the test-guest firmware observes exactly the same under
 * KVM and under Unicorn: same sessions, same checks, same hash of
 * everything it read back from the devices. Skipped unless both backends
 * are usable here.
 */
#include "test_vmm_util.h"

static void run_one(enum vmm_backend b, struct fw_result *out)
{
	struct vmm_opts o = { .backend = b, .timeout_s = 120 };
	struct machine *m = NULL;
	struct vmm v;

	memset(out, 0, sizeof *out);
	CHECK_EQ(vmm_test_run(NULL, &o, NULL, &v, &m), 0);
	CHECK_EQ(v.backend, b);
	if (v.have_result)
		*out = v.result;
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_same_results(void)
{
	struct fw_result k, u;

	run_one(VMM_BACKEND_KVM, &k);
	run_one(VMM_BACKEND_UNICORN, &u);
	CHECK_EQ(k.status, 0);
	CHECK_EQ(u.status, 0);
	CHECK_EQ(k.sessions, u.sessions);
	CHECK_EQ(k.passed, u.passed);
	CHECK_EQ(k.steps, u.steps);
	CHECK_EQ(k.hash, u.hash);
	CHECK(k.hash != 0);
}

int main(void)
{
	char why[256];

	if (!vmm_kvm_usable(why, sizeof why))
		check_skip_all(why);
	if (!vmm_unicorn_usable(why, sizeof why))
		check_skip_all(why);
	RUN(test_same_results);
	return check_done();
}
