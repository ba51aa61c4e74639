#include "common/log.h"
#include "tests/unit/test.h"

#include <unistd.h>

TEST(a_message_with_control_characters_stays_one_line)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	log_msg(LOG_WARN, "test", "from the AS: %s", "line one\nforged: line two\r\x1b[0m");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	char buf[512] = { 0 };
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	CHECK(n > 0);
	char *nl = strchr(buf, '\n');
	CHECK(nl && nl[1] == '\0'); /* exactly one line, ending the message */
	CHECK(strstr(buf, "line one?forged: line two??[0m") != NULL);
}

int main(void)
{
	TEST_BEGIN("log");
	RUN(a_message_with_control_characters_stays_one_line);
	TEST_END();
}
