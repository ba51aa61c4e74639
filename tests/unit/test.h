/*
 * A minimal unit-test harness: each test_*.c defines cases with TEST(name), registers them in
 * main via RUN(name), and ends with TEST_END(). Each case prints "PASS name" or "FAIL name";
 * tests/run.sh counts those lines.
 */
#ifndef TNGWG_TESTS_TEST_H
#define TNGWG_TESTS_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_cases, test_case_failed;
static const char *test_file_name = "unit";

#define TEST(name) static void name(void)
#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			test_case_failed = 1;                                           \
		}                                                                       \
	} while (0)
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)
#define RUN(name)                                                                        \
	do {                                                                             \
		test_case_failed = 0;                                                    \
		name();                                                                  \
		printf("%s %s.%s\n", test_case_failed ? "FAIL" : "PASS", test_file_name, #name); \
		fflush(stdout);                                                          \
		test_failed_cases += test_case_failed;                                   \
	} while (0)
#define TEST_BEGIN(file) test_file_name = (file)
#define TEST_END() return test_failed_cases ? 1 : 0

/* Parse a hex string into out (len bytes); returns 0 on success. */
static inline int test_unhex(const char *hex, unsigned char *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

#endif
