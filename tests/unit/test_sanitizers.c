/*
 * The sanitizers are really watching in the build under test. The end-to-end tests pass a daemon
 * when its log holds no sanitizer report; were LeakSanitizer unable to run (it cannot under
 * ptrace, and says so in a line of its own) or switched off by the environment, every one of
 * those checks would pass. So: a child of this program that leaks, writes past a heap buffer or
 * overflows a signed integer, in the foreground and detached the way the daemons detach (a new
 * session, stdin and stdout on /dev/null, stderr into a log file), must fail with the report the
 * end-to-end tests look for (tests/lib/common.sh, SANITIZER_REPORT) in the ASan/UBSan build, in
 * the environment tests/run.sh gives every test. In the release build the leaking child runs clean.
 */
#include "tests/unit/test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static void *volatile leaked;

static void leak(void)
{
	leaked = malloc(4096);
	memset(leaked, 0xa5, 4096);
	leaked = NULL;
}

#ifdef SANITIZED
static void heap_overflow(void)
{
	volatile size_t size = 16; /* unknown to the compiler, so UBSan's object-size check stays out */
	volatile char *buf = malloc(size);
	buf[size] = 1;
	free((void *)buf);
}

static void signed_overflow(void)
{
	volatile int big = INT_MAX;
	big = big + 1;
}
#endif

struct outcome {
	int status;
	char log[8192];
};

static void detach(int log_fd)
{
	int null = open("/dev/null", O_RDWR);
	setsid();
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	close(null);
}

/* Runs fault in a child, its stderr into a file; the child's exit status and what it wrote. */
static void run_child(void (*fault)(void), bool detached, struct outcome *o)
{
	char path[] = "/tmp/tngwg-sanitizers.XXXXXX";
	int log_fd = mkstemp(path);
	CHECK(log_fd >= 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (detached)
			detach(log_fd);
		else
			dup2(log_fd, STDERR_FILENO);
		fault();
		exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &o->status, 0) == pid);
	memset(o->log, 0, sizeof(o->log));
	CHECK(pread(log_fd, o->log, sizeof(o->log) - 1, 0) >= 0);
	close(log_fd);
	unlink(path);
}

static bool failed(const struct outcome *o) { return !WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0; }

#ifdef SANITIZED
static void expect_report(void (*fault)(void), bool detached, const char *report)
{
	struct outcome o;
	run_child(fault, detached, &o);
	CHECK(failed(&o));
	CHECK(strstr(o.log, report) != NULL);
	if (!strstr(o.log, report))
		fprintf(stderr, "  expected \"%s\"; the child wrote:\n%s\n", report, o.log);
}

TEST(a_leak_is_reported)
{
	expect_report(leak, false, "ERROR: LeakSanitizer: detected memory leaks");
}

TEST(a_leak_in_a_detached_process_is_reported)
{
	expect_report(leak, true, "ERROR: LeakSanitizer: detected memory leaks");
}

TEST(a_heap_overflow_in_a_detached_process_is_reported)
{
	expect_report(heap_overflow, true, "ERROR: AddressSanitizer: heap-buffer-overflow");
}

TEST(a_signed_overflow_in_a_detached_process_is_reported)
{
	expect_report(signed_overflow, true, "runtime error: signed integer overflow");
}
#else
TEST(the_release_build_runs_a_leak_without_a_report)
{
	struct outcome o;
	run_child(leak, true, &o);
	CHECK(!failed(&o));
	CHECK(o.log[0] == '\0');
}
#endif

int main(void)
{
	TEST_BEGIN("sanitizers");
#ifdef SANITIZED
	RUN(a_leak_is_reported);
	RUN(a_leak_in_a_detached_process_is_reported);
	RUN(a_heap_overflow_in_a_detached_process_is_reported);
	RUN(a_signed_overflow_in_a_detached_process_is_reported);
#else
	RUN(the_release_build_runs_a_leak_without_a_report);
#endif
	TEST_END();
}
